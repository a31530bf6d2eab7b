# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""How the input reader counts every record it drops, in-graph.

`InputReader` (`input_reader`) reads records, checks, decodes and batches
them; this module holds the checks and the two `tf.data` `scan` steps that
count what is dropped, so that `skipped_records` of each batch is exact.

Every record is either yielded or counted. The shard readers
(`shard_reading.ShardReader`) yield records and in-band markers for what they
skip (damage, vanished shards, oversized members), each counting `count`
records under its reason (`tfrecord_shards.resolve_lost` counts a TFRecord
shard's loss, in the batched checks). Each pass over the files ends with an
end-of-pass marker (`shard_reading`, `pass_end_marker`). Records are numbered
(`enumerate`, which also seeds each record's augmentation) and parsed by an
order-preserving `map`; `ignore_errors()` drops unparsable records and leaves
gaps in the numbering. Batches of 64 parsed records go through the cheap
checks at once (`check_record`, in-graph, vectorised); a `scan` over them
(`RecordAccounting.count_batch`) counts the failed checks (among them the
image size each header declares, `image_headers.declared_dimensions`, against
`max_pixels`), the markers and the gaps (`malformed_record`), drops the failed
records and numbers the kept ones consecutively. After an order-preserving
decode `map`, `ignore_errors()` drops the images that fail to decode, leaving
gaps in that numbering; a last `scan` (`RecordAccounting.settle_counts`)
counts those gaps (`decode_error`) and holds each record back until the next
one arrives, so the last record of a pass also carries the counts of the
records dropped after it.
`skipped_records` of a batch thus counts every record dropped before its last
record, plus, if that record ends a pass, the rest of the pass; in training
the data repeats and the counts keep growing across passes. A pass in which
no record survives stops iteration with an `InvalidArgumentError` naming the
file pattern, the records seen and the count per reason (`NO_USABLE_RECORDS`
in its message): an all-bad input fails within its first pass, never spins.
So do `max_unreadable_shards_in_a_row` unreadable shards with nothing read in
between (`UNREADABLE_SHARDS_IN_A_ROW`, naming the last), and a webdataset
shard whose storage errors persist after retries ("Cannot read <shard>: ...").
These two travel with the records (`alarm`) and are raised after decoding:
one raised before it would be swallowed by decoding's `ignore_errors()`.
A finite pass (`repeat=False`) keeps its last partial batch
(`drop_remainder=True` is refused there, since it would drop records
uncounted).

The counters are per input pipeline: under
`distribute_datasets_from_function`, replicas fed by the same pipeline see
the same cumulative counter, so take the max over those replicas and sum over
pipelines (`total_skipped` does it for the usual one-pipeline-per-host case).
"""
import re
from typing import Optional

import tensorflow as tf

from official.align.dataloaders import image_headers
from official.align.dataloaders import skip_counts
from official.align.dataloaders import webdataset_shards

SKIP_REASONS = skip_counts.SKIP_REASONS
_MALFORMED = SKIP_REASONS.index("malformed_record")
_DECODE_ERROR = SKIP_REASONS.index("decode_error")
_UNREADABLE_SHARD = SKIP_REASONS.index("unreadable_shard")
_FATAL = webdataset_shards.FATAL
# In the message of the error that ends a pass with no usable record.
NO_USABLE_RECORDS = "records usable in"
# In the message of the error after too many unreadable shards in a row.
UNREADABLE_SHARDS_IN_A_ROW = "shards in a row could not be read"


def no_usable_records(error: Exception) -> Optional[str]:
  """The one-line message of an all-bad pass, if `error` is one, else None.

  Iterating a reader over an input in which no record of a pass survives
  raises `tf.errors.InvalidArgumentError`; this extracts its message, e.g.
  "0 of 40 records usable in shards/*.tfrecord: malformed_record 40".
  """
  match = re.search(r"\[(0 of \d+ %s .*?)\]" % NO_USABLE_RECORDS,
                    str(error))
  return match.group(1) if match else None


def check_record(image: tf.Tensor, text: tf.Tensor, has_image: tf.Tensor,
                 has_text: tf.Tensor, too_large: tf.Tensor) -> tf.Tensor:
  """Index in SKIP_REASONS of the first cheap check a record fails, or -1.

  Elementwise over the leading dimensions [...] (one record, or a batch).

  Args:
    image: string [...], encoded image ("" if absent).
    text: string [...], caption ("" if absent).
    has_image: bool [...], the image feature is present.
    has_text: bool [...], the caption feature is present.
    too_large: bool [...], the image's header declares more than the
      reader's `max_pixels` (`image_headers.declared_dimensions`).

  Returns:
    int32 [...].
  """
  valid_utf8 = tf.equal(
      tf.strings.unicode_transcode(
          text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD),
      text)
  blank = tf.strings.regex_full_match(text, r"[\s\p{Z}]*")
  conditions = tf.stack([
      tf.logical_not(tf.logical_and(has_image, has_text)),
      tf.logical_not(valid_utf8),
      blank,
      image_headers.header_has_zero_size(image),
      tf.logical_not(image_headers.is_supported_format(image)),
      too_large,
  ], axis=-1)
  first = tf.argmax(tf.cast(conditions, tf.int32), axis=-1,
                    output_type=tf.int32)
  return tf.where(tf.reduce_any(conditions, axis=-1),
                  tf.gather(_CHECK_REASONS, first), -1)


# The reasons of `check_record`'s checks, in their order.
_CHECK_REASONS = [SKIP_REASONS.index(name) for name in (
    "missing_feature", "invalid_utf8", "empty_caption", "zero_size_image",
    "unknown_image_format", "image_too_large")]


def _one_hot(reason: int) -> tf.Tensor:
  return tf.one_hot(reason, len(SKIP_REASONS), dtype=tf.int64)


class RecordAccounting:
  """The counting `scan` steps of one input pipeline (module docstring).

  Use as

    accounting = RecordAccounting(pattern_text, max_unreadable, image_size)
    ds = ds.scan(accounting.count_state(), accounting.count_batch)
    ... decode, ignore_errors ...
    ds = ds.scan(accounting.settle_state(), accounting.settle_counts)
  """

  def __init__(self, pattern_text: str, max_unreadable_in_a_row: int,
               image_size: int):
    """Configures the counting.

    Args:
      pattern_text: the reader's file pattern, named in errors.
      max_unreadable_in_a_row: stop after this many unreadable shards with
        nothing read in between.
      image_size: side of the decoded images, pixels.
    """
    self._pattern_text = pattern_text
    self._max_unreadable_in_a_row = max_unreadable_in_a_row
    self._image_size = image_size

  def count_state(self):
    """The initial state of `count_batch`."""
    return (tf.zeros([len(SKIP_REASONS)], tf.int64),
            tf.constant(-1, tf.int64), tf.constant(0, tf.int64),
            tf.constant(0, tf.int64), tf.constant(b""))

  def _unreadable_in_a_row(self, run, reason, count, end_of_pass, key):
    """Runs of unreadable shards through a batch.

    Args:
      run: int64 scalar, unreadable shards in a row before this batch.
      reason: int32 [n]; count: int64 [n]; end_of_pass: bool [n]; key:
        string [n] (a marker's detail).

    Returns:
      (int64 scalar run after the batch, string scalar: "" or the message of
      a run of `max_unreadable_shards_in_a_row`).
    """
    unreadable = tf.logical_and(tf.equal(reason, _UNREADABLE_SHARD),
                                count > 0)
    # The count-0 marker that ends an intact shard is no record either.
    neutral = tf.logical_or(end_of_pass, tf.logical_and(reason >= 0,
                                                        tf.equal(count, 0)))

    def runs():
      # Anything but another unreadable shard (or a pass end) breaks a run.
      breaks = tf.logical_not(tf.logical_or(unreadable, neutral))
      n = tf.shape(reason, out_type=tf.int64)[0]
      positions = tf.range(n)
      lower = positions[:, None] >= positions[None, :]
      last_break = tf.reduce_max(
          tf.where(tf.logical_and(lower, breaks[None, :]), positions[None, :],
                   -1), axis=1)
      counted = tf.cumsum(tf.cast(unreadable, tf.int64))
      at_break = tf.gather(counted, tf.maximum(last_break, 0))
      return tf.where(last_break >= 0, counted - at_break, run + counted)

    per_record = tf.cond(
        tf.logical_or(tf.reduce_any(unreadable), run > 0), runs,
        lambda: tf.zeros_like(reason, tf.int64))
    worst = tf.argmax(per_record)
    message = tf.where(
        per_record[worst] >= self._max_unreadable_in_a_row,
        tf.strings.join([
            f"{self._max_unreadable_in_a_row} {UNREADABLE_SHARDS_IN_A_ROW} "
            f"({self._pattern_text}); is the storage available? The last: ",
            key[worst]]), "")
    return per_record[-1], message

  def count_batch(self, state, batch):
    """`scan` step over checked batches: counts, keeps the good records.

    Counts each failed check and in-band skip, and each gap in the record
    numbering (a record that failed to parse) as a malformed record; numbers
    the kept records consecutively (`position`) so decode failures leave gaps
    too. A fatal in-band marker (a storage error that persisted) or
    `max_unreadable_in_a_row` unreadable shards set an `alarm` message that
    every later kept record carries, for the reader's last map (or
    `settle_counts`, at the end of a pass with no usable record) to raise:
    an error raised here would be swallowed by the `ignore_errors` of
    decoding.

    Args:
      state: (int64 [len(SKIP_REASONS)] counts so far, int64 last record
        number seen, int64 records kept so far, int64 unreadable shards in a
        row, string alarm).
      batch: dict of [n] tensors from `_check_batch`.

    Returns:
      The new state and the kept records (end-of-pass markers included), each
      with its cumulative `skipped_records` [len(SKIP_REASONS)], its
      `position` and the `alarm` so far.
    """
    counts, last_index, kept, unreadable_run, alarm = state
    index, reason = batch["index"], batch["reason"]
    fatal = tf.equal(reason, _FATAL)
    unreadable_run, too_many = self._unreadable_in_a_row(
        unreadable_run, reason, batch["count"], batch["end_of_pass"],
        batch["key"])
    fatal_message = tf.strings.reduce_join(tf.strings.join(
        ["Cannot read ", tf.boolean_mask(batch["key"], fatal)[:1]]))
    for message in (fatal_message, too_many):
      alarm = tf.where(tf.equal(alarm, ""), message, alarm)
    gaps = index - tf.concat([[last_index], index[:-1]], 0) - 1
    per_record = (
        (tf.cast(reason >= 0, tf.int64) * batch["count"])[:, None] *
        tf.one_hot(tf.maximum(reason, 0), len(SKIP_REASONS), dtype=tf.int64) +
        gaps[:, None] * _one_hot(_MALFORMED))
    cumulative = counts + tf.cumsum(per_record, axis=0)
    good = tf.equal(reason, -1)
    position = kept + tf.cumsum(tf.cast(good, tf.int64)) - 1
    out = {k: tf.boolean_mask(batch[k], good)
           for k in ("index", "image_bytes", "text", "key", "end_of_pass")}
    out["skipped_records"] = tf.boolean_mask(cumulative, good)
    out["position"] = tf.boolean_mask(position, good)
    out["alarm"] = tf.fill(tf.shape(out["index"]), alarm)
    state = (cumulative[-1], index[-1], position[-1] + 1, unreadable_run,
             alarm)
    return state, out

  def _no_usable_records(self, records, counts):
    """The message of a pass with no usable record (string scalar)."""
    names = tf.constant(SKIP_REASONS)
    items = tf.strings.join([names, tf.strings.as_string(counts)], " ")
    return tf.strings.join([
        "0 of ", tf.strings.as_string(records),
        f" {NO_USABLE_RECORDS} {self._pattern_text}: ",
        tf.strings.reduce_join(tf.boolean_mask(items, counts > 0),
                               separator=", ")])

  def settle_counts(self, state, element):
    """`scan` step after decoding: final counts, one record held back.

    Counts the decode failures (gaps in `position`), emits the previous
    record (with the counts up to the next record if that is the end of the
    pass), and raises at the end of a pass in which no record survived (the
    alarm the pass's records carry, if any, else the counts).

    Args:
      state: (previous element, has previous, elements seen, records kept
        this pass, counts at the start of this pass).
      element: one decoded record or end-of-pass marker.

    Returns:
      The new state and (previous element, valid) for `filter`.
    """
    prev, has_prev, seen, pass_kept, pass_counts = state
    end = element["end_of_pass"]
    counts = element["skipped_records"] + (
        element["position"] - seen) * _one_hot(_DECODE_ERROR)
    out = dict(prev)
    out["skipped_records"] = tf.where(end, counts, prev["skipped_records"])
    out["alarm"] = tf.where(end, element["alarm"], prev["alarm"])
    # Records seen in a pass that kept none: all skipped.
    records = tf.reduce_sum(counts - pass_counts)
    check = tf.debugging.Assert(
        tf.logical_or(tf.logical_not(end), pass_kept > 0),
        [tf.where(tf.equal(element["alarm"], ""),
                  self._no_usable_records(records, counts - pass_counts),
                  element["alarm"])])
    with tf.control_dependencies([check]):
      valid = tf.identity(has_prev)
    current = dict(element, skipped_records=counts)
    state = (current, tf.logical_not(end), seen + 1,
             tf.where(end, tf.constant(0, tf.int64), pass_kept + 1),
             tf.where(end, counts, pass_counts))
    return state, (out, valid)

  def settle_state(self):
    """The initial state of `settle_counts`."""
    size = self._image_size
    empty = {"index": tf.constant(0, tf.int64),
             "position": tf.constant(0, tf.int64),
             "text": tf.constant(b""), "key": tf.constant(b""),
             "skipped_records": tf.zeros([len(SKIP_REASONS)], tf.int64),
             "end_of_pass": tf.constant(False), "alarm": tf.constant(b""),
             "image": tf.zeros([size, size, 3], tf.uint8)}
    zero = tf.constant(0, tf.int64)
    return (empty, tf.constant(False), zero, zero,
            tf.zeros([len(SKIP_REASONS)], tf.int64))
