# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Reads TFRecord shards, in-graph, counting exactly what damage loses.

What `tf.data.TFRecordDataset` does with damage, and what this does:

* A record whose checksum fails (a flipped byte) or that is cut short: the
  dataset raises `DataLossError` and moves on to its next file, so under
  `ignore_errors()` the rest of the shard is lost without a trace. Here the
  records before the damage are read, and the loss is counted exactly: the
  shard is read once more, whole (`tf.io.read_file`), and its framing walked
  (each record's 12-byte header: its length and the length's masked CRC32C,
  checked in-graph) to count the records from the damaged one on, as
  `unreadable_shard`. A damaged header ends the walk: what follows it counts
  as one more record, since no reader can know how many it held.
* A shard that no longer exists (deleted or rotated after listing): opening
  it fails without moving on, so `ignore_errors()` retries it forever (a
  busy loop). Here the shard's existence is checked first
  (`tf.io.matching_files`, glob characters escaped); a missing shard is one
  `unreadable_shard`.

Three steps, so that the clean path costs (almost) nothing:

  read_tfrecord_shard(filename)  per shard, native ops only (no function per
      record): `(delivered, (raw, (record, kind)))`, where `raw` numbers the
      records and the errors of the shard (an error takes a number and is
      skipped) and `delivered` the elements after that, so at the sentinel
      (`kind` END_OF_SHARD) that ends each shard, `raw > delivered` means
      damage; `kind` MISSING for a shard that does not exist.
  interpret(element)  per record, inside the reader's own parsing `map`
      (scalar ops): `(record, reason, detail, count)` as
      `shard_reading.ShardReader` elements are, with damage still PENDING.
  resolve_lost(reason, detail, count)  per batch: counts each PENDING loss
      (read, walk; rare) and prints it.

Why count and not resync (read on after the damaged record, from the next
record's offset, `TFRecordDatasetV2`'s `byte_offsets`): that needs a dataset
made per damaged record, and `tf.data` pays for everything a per-record
function could make on every record (tens of percent of the input
pipeline); records sliced from the in-memory copy instead would go
unchecked (no in-graph CRC32C of whole records). Damaged shards are rare;
their intact records after the damage are counted, not read.

Limits: a shard cut inside a record's 12-byte header reads as ending there
(`TFRecordDataset` takes a short header for the end of the file, as it does
a shard cut between two records, which no reader can tell from a shorter
shard). Existence is checked, readability is not: a shard without read
permission still makes tf.data retry its open. Only graph ops, no `reduce`
or `py_function`: the iterator still goes into checkpoints.
"""
import sys

import tensorflow as tf

from official.align.dataloaders import skip_counts

_UNREADABLE_SHARD = skip_counts.reason_index("unreadable_shard")
_NOT_SKIPPED = skip_counts.NOT_SKIPPED
# `kind` of a raw element (END_OF_PASS: the reader's marker after a pass).
RECORD = 0
END_OF_SHARD = 1
MISSING = 2
END_OF_PASS = 3
PASS_END_ELEMENT = (tf.constant(0, tf.int64), (tf.constant(0, tf.int64), (
    tf.constant(b""), tf.constant(END_OF_PASS))))
# In-band reasons of `interpret` that `resolve_lost` turns into counts.
LOST_PENDING = -4
MISSING_PENDING = -5
_ENDLESS = 2**62  # A range that never ends.
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


def read_tfrecord_shard(filename: tf.Tensor) -> tf.data.Dataset:
  """The raw elements of one TFRecord shard (module docstring).

  Args:
    filename: string scalar, any `tf.io.gfile` path.

  Returns:
    A dataset of (int64 delivered, (int64 raw, (string record, int32 kind)));
    the last element is the sentinel, its `record` the file name.
  """
  filename = tf.convert_to_tensor(filename, tf.string)
  exists = shard_exists(filename)
  records = tf.data.TFRecordDataset(
      tf.reshape(filename, [1])[:tf.cast(exists, tf.int32)])
  tagged = tf.data.Dataset.zip(
      records, tf.data.Dataset.from_tensors(tf.constant(RECORD)).repeat())
  tagged = tagged.concatenate(tf.data.Dataset.from_tensors(
      (filename, tf.where(exists, END_OF_SHARD, MISSING))))
  # Zips only: no function runs per record.
  raw = tf.data.Dataset.zip(tf.data.Dataset.range(_ENDLESS),
                            tagged).ignore_errors()
  return tf.data.Dataset.zip(tf.data.Dataset.range(_ENDLESS), raw)


def interpret(element):
  """A raw element -> (record, reason, detail, count), scalar ops only.

  A record: (record, NOT_SKIPPED, "", 1). The end of an intact shard: a
  marker counting 0. Damage: ("", LOST_PENDING, file name, records read
  before it); a missing shard: ("", MISSING_PENDING, file name, 1); both for
  `resolve_lost`. `PASS_END_ELEMENT`: ("", skip_counts.END_OF_PASS, "", 0).
  """
  delivered, (raw, (record, kind)) = element
  is_record = tf.equal(kind, RECORD)
  damaged = tf.logical_and(tf.equal(kind, END_OF_SHARD), raw > delivered)
  reason = tf.where(
      is_record, _NOT_SKIPPED,
      tf.where(tf.equal(kind, MISSING), MISSING_PENDING,
               tf.where(damaged, LOST_PENDING,
                        tf.where(tf.equal(kind, END_OF_PASS),
                                 skip_counts.END_OF_PASS,
                                 _UNREADABLE_SHARD))))
  empty = tf.constant(b"")
  pending = tf.logical_or(tf.equal(kind, MISSING), damaged)
  # `raw_ops.Select` with a scalar condition forwards a record, no copy.
  return (tf.raw_ops.Select(condition=is_record, x=record, y=empty),
          reason,
          tf.raw_ops.Select(condition=pending, x=record, y=empty),
          tf.where(is_record, tf.constant(1, tf.int64),
                   tf.where(damaged, delivered,
                            tf.cast(tf.equal(kind, MISSING), tf.int64))))


def lost_records(content: tf.Tensor, records_read: tf.Tensor):
  """Walks a TFRecord file's framing past `records_read` records.

  Args:
    content: string scalar, the whole file.
    records_read: int64 scalar, the records read before the damage.

  Returns:
    (int64 records from the damaged one on: each whose header is intact
    counts one, cut short or not, and what follows a damaged header counts
    one; int64 byte offset of the damaged record; bool the framing was
    lost at a damaged header).
  """
  size = tf.cast(tf.strings.length(content), tf.int64)
  padded = tf.strings.join([content, b"\0" * _HEADER_BYTES])

  def step(index, position, damage_at, framing_lost):
    header = tf.io.decode_raw(tf.strings.substr(
        padded, tf.cast(position, tf.int32), _HEADER_BYTES), tf.uint8)
    header.set_shape([_HEADER_BYTES])
    length = _little_endian(header[:7]) + tf.where(
        header[7] > 0, tf.constant(1 << 62, tf.int64), 0)
    valid = tf.logical_and(
        position + _HEADER_BYTES <= size,
        tf.equal(masked_crc32c(header[:8]), _little_endian(header[8:12])))
    next_position = tf.where(
        valid, position + _HEADER_BYTES + length + _FOOTER_BYTES, size)
    damage_at = tf.where(tf.equal(index, records_read), position, damage_at)
    return index + 1, next_position, damage_at, tf.logical_not(valid)

  index, _, damage_at, framing_lost = tf.while_loop(
      lambda index, position, damage_at, framing_lost: tf.logical_and(
          position < size, tf.logical_not(framing_lost)),
      step, (tf.constant(0, tf.int64), tf.constant(0, tf.int64),
             tf.constant(-1, tf.int64), tf.constant(False)))
  return (tf.maximum(index - records_read, 1),
          tf.where(damage_at < 0, size, damage_at), framing_lost)


def _resolve_one(reason, detail, count):
  """(count, detail) of one PENDING marker; prints it."""

  def lost():
    records, offset, framing_lost = lost_records(
        tf.io.read_file(detail), count)
    return records, tf.strings.join([
        detail, ": damaged at byte ", tf.strings.as_string(offset), " (",
        tf.strings.as_string(records), " records",
        tf.where(framing_lost, tf.constant(", framing lost"),
                 tf.constant("")), "); the rest is skipped"])

  def missing():
    return tf.constant(1, tf.int64), tf.strings.join(
        [detail, ": cannot be opened (no such file)"])

  count, detail = tf.cond(tf.equal(reason, LOST_PENDING), lost, missing)
  with tf.control_dependencies([tf.print(
      "Skipped:", detail, "(counted as unreadable_shard", count, end=")\n",
      output_stream=sys.stderr)]):
    return tf.identity(count), tf.identity(detail)


def resolve_lost(reason: tf.Tensor, detail: tf.Tensor, count: tf.Tensor):
  """Counts the PENDING losses of a batch of `interpret`ed elements.

  Args:
    reason: int32 [n]; detail: string [n]; count: int64 [n].

  Returns:
    (reason, detail, count) [n], each PENDING marker now an
    `unreadable_shard` counting the records lost, its detail saying where
    (and printed to stderr).
  """
  reason = tf.convert_to_tensor(reason, tf.int32)
  detail = tf.convert_to_tensor(detail, tf.string)
  count = tf.convert_to_tensor(count, tf.int64)
  pending = tf.logical_or(tf.equal(reason, LOST_PENDING),
                          tf.equal(reason, MISSING_PENDING))

  def resolve():
    which = tf.where(pending)[:, 0]
    counts, details = tf.map_fn(
        lambda i: _resolve_one(reason[i], detail[i], count[i]), which,
        fn_output_signature=(tf.int64, tf.string))
    which = which[:, None]
    return (tf.tensor_scatter_nd_update(
        reason, which, tf.fill(tf.shape(counts), _UNREADABLE_SHARD)),
            tf.tensor_scatter_nd_update(detail, which, details),
            tf.tensor_scatter_nd_update(count, which, counts))

  return tf.cond(tf.reduce_any(pending), resolve,
                 lambda: (reason, detail, count))
