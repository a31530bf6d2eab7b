# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Reads one TFRecord shard past framing damage, in-graph, counting the loss.

`read_tfrecord_shard(filename)` is the `shard_reading.ReadFn` of TFRecord
shards. Its elements are `(record, reason, detail)`:

  record  string [], a serialized record ("" for a marker);
  reason  int32 [], `skip_counts.NOT_SKIPPED` for a record, else the index in
          `skip_counts.SKIP_REASONS` of what a marker counts (one record, or
          one unreadable shard);
  detail  string [], "" for a record; for a marker, the shard path and what
          happened (also printed to stderr when it happens).

What `tf.data.TFRecordDataset` does with damage, and what this does instead:

* A record whose checksum fails (a flipped byte) or that is cut short: the
  dataset raises `DataLossError` and moves on to its next file, so under
  `ignore_errors()` the rest of the shard is lost without a trace. Here the
  reader resyncs on the next record boundary: the damaged record's 12-byte
  header (length and its masked CRC32C, checked in-graph) gives where the
  next record starts, and reading resumes there (`TFRecordDatasetV2`'s
  `byte_offsets`). The damaged record is one `corrupt_record`; every other
  record is read. Each resync is one more nested level of the reading graph
  (a `tf.data` function cannot recurse): after `MAX_RESYNCS` damaged records
  in one shard, its rest is one `unreadable_shard`.
* A damaged header (its CRC fails): the next boundary cannot be known, so
  the rest of the shard is one `unreadable_shard`.
* A shard that no longer exists (deleted or rotated after listing): opening
  it fails without moving on, so `ignore_errors()` retries it forever (a
  busy loop). Here the shard's existence is checked first
  (`tf.io.matching_files`, glob characters escaped); a missing shard is one
  `unreadable_shard`.

Limits: a shard cut inside a record's 12-byte header reads as ending there
(`TFRecordDataset` takes a short header for the end of the file, as it does
a shard cut between two records, which no reader can tell from a shorter
shard). A storage error that outlasts the file system's own retries is taken
for damage. Existence is checked, readability is not: a shard without read
permission still spins.

The clean path (an intact shard) costs, per record, a numbering (`zip` with
a range), a `scan` that counts records and their bytes, and a `flat_map`:
damage shows as a gap in the numbering before the end-of-shard sentinel.
Everything is graph ops without `reduce` or `py_function`, so the iterator
still goes into checkpoints.
"""
import sys

import tensorflow as tf

from official.align.dataloaders import skip_counts

_UNREADABLE_SHARD = skip_counts.reason_index("unreadable_shard")
_CORRUPT_RECORD = skip_counts.reason_index("corrupt_record")
_NOT_SKIPPED = skip_counts.NOT_SKIPPED
_ENDLESS = 2**62  # A range that never ends.
# Damaged records skipped per shard before the rest of it is given up (each
# is one more nested level of the reading graph).
MAX_RESYNCS = 3
# Dataset functions here are plain graph code: skip AutoGraph's conversion
# (most of the tracing time of the nested levels).
_graph_fn = tf.autograph.experimental.do_not_convert
_BUFFER_BYTES = 256 * 1024  # As tf.data.TFRecordDataset.
_HEADER_BYTES = 12  # uint64 length, uint32 masked CRC32C of the length.
_FOOTER_BYTES = 4  # uint32 masked CRC32C of the data.
_CRC_MASK_DELTA = 0xA282EAD8


def _crc32c_table():
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_CRC32C_TABLE = _crc32c_table()


def masked_crc32c(data: tf.Tensor) -> tf.Tensor:
  """int64 scalar: TFRecord's masked CRC32C of a few bytes (uint8 [n]).

  Unrolled over a static `n` (8 for a record header): for headers only.
  """
  table = tf.constant(_CRC32C_TABLE, tf.int64)
  data = tf.cast(data, tf.int64)
  crc = tf.constant(0xFFFFFFFF, tf.int64)
  for k in range(data.shape[0]):
    crc = tf.bitwise.bitwise_xor(
        tf.gather(table, tf.bitwise.bitwise_and(
            tf.bitwise.bitwise_xor(crc, data[k]), 0xFF)),
        tf.bitwise.right_shift(crc, 8))
  crc = tf.bitwise.bitwise_xor(crc, 0xFFFFFFFF)
  rotated = tf.bitwise.bitwise_or(
      tf.bitwise.right_shift(crc, 15),
      tf.bitwise.bitwise_and(tf.bitwise.left_shift(crc, 17), 0xFFFFFFFF))
  return tf.bitwise.bitwise_and(rotated + _CRC_MASK_DELTA, 0xFFFFFFFF)


def _little_endian(data: tf.Tensor) -> tf.Tensor:
  """int64 scalar from little-endian uint8 [n] (n <= 7 for no overflow)."""
  weights = tf.constant([256**k for k in range(data.shape[0])], tf.int64)
  return tf.reduce_sum(tf.cast(data, tf.int64) * weights)


def _glob_escaped(filename: tf.Tensor) -> tf.Tensor:
  return tf.strings.regex_replace(filename, r"([*?\[\]\\])", r"\\\1")


def shard_exists(filename: tf.Tensor) -> tf.Tensor:
  """bool scalar: does the file exist (in-graph; any `tf.io.gfile` path)?"""
  return tf.size(tf.io.matching_files(_glob_escaped(filename))) > 0


def _records_from(filename: tf.Tensor, offset: tf.Tensor,
                  exists: tf.Tensor) -> tf.data.Dataset:
  """The records of one file from a byte offset (none if not `exists`).

  `TFRecordDatasetV2` (the op behind `tf.data.TFRecordDataset`, with the
  `byte_offsets` input its Python class does not expose). That dataset
  cannot be serialized (its `AsGraphDef` drops the input), which graph
  rewrites do, so it is built inside a `flat_map`.
  """

  @_graph_fn
  def records(filename, offset):
    variant = tf.raw_ops.TFRecordDatasetV2(
        filenames=tf.reshape(filename, [1]), compression_type="",
        buffer_size=tf.constant(_BUFFER_BYTES, tf.int64),
        byte_offsets=tf.reshape(offset, [1]), metadata="")
    return tf.data.experimental.from_variant(
        variant, tf.TensorSpec([], tf.string))

  return tf.data.Dataset.from_tensors(
      (filename, tf.cast(offset, tf.int64))).take(
          tf.cast(exists, tf.int64)).flat_map(records)


def _marker(reason, filename: tf.Tensor, what: tf.Tensor) -> tf.data.Dataset:
  """A one-element dataset: the skip marker of `reason` (printed to stderr)."""
  reason = tf.cast(reason, tf.int32)
  detail = tf.strings.join([filename, ": ", what])
  print_op = tf.print(
      "Skipped:", detail, "(counted as",
      tf.gather(skip_counts.SKIP_REASONS, reason), end=")\n",
      output_stream=sys.stderr)
  with tf.control_dependencies([print_op]):
    detail = tf.identity(detail)
  return tf.data.Dataset.from_tensors((tf.constant(b""), reason, detail))


def _no_records() -> tf.data.Dataset:
  return tf.data.Dataset.from_tensors(
      (tf.constant(b""), tf.constant(_NOT_SKIPPED), tf.constant(b""))).take(0)


def _header_check(header: tf.Tensor):
  """(int64 data length, bool valid) of a record header, string [<= 12] bytes.

  Valid: 12 bytes whose length field matches its masked CRC32C.
  """
  header = tf.strings.reduce_join(header)
  complete = tf.equal(tf.strings.length(header), _HEADER_BYTES)
  header = tf.io.decode_raw(tf.strings.join([header, b"\0" * _HEADER_BYTES]),
                            tf.uint8)[:_HEADER_BYTES]
  header.set_shape([_HEADER_BYTES])
  length_bytes = header[:8]
  # The length is a uint64; a length above 2**56 is no real record anyway.
  length = _little_endian(length_bytes[:7]) + tf.where(
      length_bytes[7] > 0, tf.constant(1 << 62, tf.int64), 0)
  valid = tf.logical_and(
      complete, tf.equal(masked_crc32c(length_bytes),
                         _little_endian(header[8:12])))
  return length, valid


def _resync(filename: tf.Tensor, position: tf.Tensor, level: int):
  """What follows a damaged record at `position`: a marker, then the rest."""
  # The header's 12 bytes, as one-byte records (the only fixed-length
  # reading that needs no file size); `range` bounds retries of errors.
  header = tf.data.Dataset.zip(
      tf.data.Dataset.range(_HEADER_BYTES),
      tf.data.FixedLengthRecordDataset(filename, 1, header_bytes=position)
  ).ignore_errors().map(_graph_fn(lambda _, byte: byte)).batch(
      _HEADER_BYTES)
  header = header.concatenate(tf.data.Dataset.from_tensors(
      tf.zeros([0], tf.string))).take(1)
  where = tf.strings.join(["at byte ", tf.strings.as_string(position)])

  @_graph_fn
  def after_header(header_bytes):
    length, valid = _header_check(header_bytes)
    return tf.cond(
        valid,
        lambda: _marker(_CORRUPT_RECORD, filename, tf.strings.join([
            "damaged record ", where, "; reading resumes after it"
        ])).concatenate(_read_from(
            filename, position + _HEADER_BYTES + length + _FOOTER_BYTES,
            level)),
        lambda: _marker(_UNREADABLE_SHARD, filename, tf.strings.join([
            "damaged record header ", where,
            "; the rest of the shard is skipped"])))

  return header.flat_map(after_header)


def _read_from(filename: tf.Tensor, offset, level: int) -> tf.data.Dataset:
  """`(record, reason, detail)` from a record boundary to the end of a shard.

  Args:
    filename: string scalar.
    offset: int64 scalar, a record boundary (0 at level 0).
    level: damaged records already skipped before `offset`; after
      `MAX_RESYNCS` the rest of the shard is one `unreadable_shard`.
  """
  exists = shard_exists(filename)
  if level == 0:  # As tf.data.TFRecordDataset reads a shard.
    records = tf.data.TFRecordDataset(
        tf.reshape(filename, [1])[:tf.cast(exists, tf.int32)])
  else:
    records = _records_from(filename, offset, exists)
  tagged = records.map(_graph_fn(lambda r: (r, False))).concatenate(
      tf.data.Dataset.from_tensors((tf.constant(b""), True)))
  # Damage (an error the numbering skips) shows as a gap before the sentinel.
  numbered = tf.data.Dataset.zip(tf.data.Dataset.range(_ENDLESS),
                                 tagged).ignore_errors()

  @_graph_fn
  def count(state, element):
    records_read, position = state
    index, (record, end) = element
    size = _HEADER_BYTES + _FOOTER_BYTES + tf.cast(
        tf.strings.length(record), tf.int64)
    return ((records_read + 1, position + size),
            (record, end, index > records_read, position))

  def after(damaged, position):
    if level == MAX_RESYNCS:
      resync = lambda: _marker(_UNREADABLE_SHARD, filename, tf.strings.join([
          f"more than {MAX_RESYNCS} damaged records; the rest from byte ",
          tf.strings.as_string(position), " is skipped"]))
    else:
      resync = lambda: _resync(filename, position, level + 1)
    missing = lambda: _marker(_UNREADABLE_SHARD, filename, tf.constant(
        "cannot be opened (no such file)"))
    return tf.cond(tf.logical_not(exists), missing,
                   lambda: tf.cond(damaged, resync, _no_records))

  @_graph_fn
  def expand(record, end, damaged, position):
    return tf.cond(
        end, lambda: after(damaged, position),
        lambda: tf.data.Dataset.from_tensors(
            (record, tf.constant(_NOT_SKIPPED), tf.constant(b""))))

  return numbered.scan(
      (tf.constant(0, tf.int64), tf.cast(offset, tf.int64)), count).flat_map(
          expand)


def read_tfrecord_shard(filename: tf.Tensor) -> tf.data.Dataset:
  """`(record, reason, detail)` of one TFRecord shard (module docstring).

  Args:
    filename: string scalar, any `tf.io.gfile` path.

  Returns:
    A dataset of (string [], int32 [], string []).
  """
  return _read_from(tf.convert_to_tensor(filename, tf.string),
                    tf.constant(0, tf.int64), 0)
