# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of the input reader's record checks and counting `scan` steps.

The reader end to end (damaged shards, batches, distribution) is tested in
input_reader_test.py; here each step runs on hand-made elements.
"""
import io

import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import record_accounting
from official.align.dataloaders import skip_counts

REASONS = skip_counts.SKIP_REASONS
SIZE = 4  # Image side of the settled elements.


def _png(width=5, height=4):
  buf = io.BytesIO()
  Image.fromarray(np.zeros([height, width, 3], np.uint8)).save(buf, "PNG")
  return buf.getvalue()


def _checked_batch(reasons, indices, counts, keys=None):
  """A batch as the reader's `_check_batch` makes it (no end of pass)."""
  n = len(reasons)
  return {"index": tf.constant(indices, tf.int64),
          "reason": tf.constant(reasons, tf.int32),
          "image_bytes": tf.constant([b"img"] * n),
          "text": tf.constant([b"a caption"] * n),
          "key": tf.constant(keys or [f"k{i}" for i in indices]),
          "end_of_pass": tf.zeros([n], tf.bool),
          "count": tf.constant(counts, tf.int64)}


def _settle_element(position, end_of_pass=False, skipped=None, index=0):
  return {"index": tf.constant(index, tf.int64),
          "position": tf.constant(position, tf.int64),
          "text": tf.constant(b"t"), "key": tf.constant(b"k"),
          "skipped_records": tf.constant(
              skipped or [0] * len(REASONS), tf.int64),
          "end_of_pass": tf.constant(end_of_pass),
          "alarm": tf.constant(b""),
          "image": tf.zeros([SIZE, SIZE, 3], tf.uint8)}


def _counts(**named):
  return [named.get(name, 0) for name in REASONS]


class RecordAccountingTest(tf.test.TestCase):

  def test_first_failed_check_per_record_on_a_batch(self):
    png, zero_png = _png(), bytearray(_png())
    zero_png[16:20] = b"\0\0\0\0"
    rows = [  # image, text, has_image, has_text, too_large, expected
        (png, b"a cat", True, True, False, -1),
        (png, b"", True, False, False, REASONS.index("missing_feature")),
        (png, b"\xff\xfe", True, True, False, REASONS.index("invalid_utf8")),
        (png, " \t\u3000".encode(), True, True, False,
         REASONS.index("empty_caption")),
        (bytes(zero_png), b"a cat", True, True, False,
         REASONS.index("zero_size_image")),
        (b"<html>", b"a cat", True, True, False,
         REASONS.index("unknown_image_format")),
        (png, b"a cat", True, True, True, REASONS.index("image_too_large")),
        # Several failures: the first in SKIP_REASONS' order counts.
        (b"<html>", b"", True, True, True, REASONS.index("empty_caption")),
    ]
    image, text, has_image, has_text, too_large, expected = zip(*rows)
    got = record_accounting.check_record(
        tf.constant(image), tf.constant(text), tf.constant(has_image),
        tf.constant(has_text), tf.constant(too_large))
    self.assertEqual(got.numpy().tolist(), list(expected))

  def test_failed_checks_gaps_and_markers_are_counted_good_records_kept(self):
    accounting = record_accounting.RecordAccounting("shards/*", 10, SIZE)
    empty, unreadable = (REASONS.index("empty_caption"),
                         REASONS.index("unreadable_shard"))
    # Record 1 failed to parse (a gap), 2 has an empty caption, a marker
    # stands for 5 records of a damaged shard.
    batch = _checked_batch([-1, empty, -1, unreadable], [0, 2, 3, 4],
                           [1, 1, 1, 5])
    state, out = accounting.count_batch(accounting.count_state(), batch)
    self.assertEqual(out["index"].numpy().tolist(), [0, 3])
    self.assertEqual(out["position"].numpy().tolist(), [0, 1])
    self.assertEqual(out["skipped_records"].numpy().tolist(),
                     [_counts(), _counts(malformed_record=1,
                                         empty_caption=1)])
    counts, last_index, kept, run, alarm = state
    self.assertEqual(counts.numpy().tolist(),
                     _counts(malformed_record=1, empty_caption=1,
                             unreadable_shard=5))
    self.assertEqual((int(last_index), int(kept), int(run)), (4, 2, 1))
    self.assertEqual(alarm.numpy(), b"")

  def test_unreadable_shards_in_a_row_set_the_alarm(self):
    accounting = record_accounting.RecordAccounting("shards/*", 2, SIZE)
    unreadable = REASONS.index("unreadable_shard")
    state = accounting.count_state()
    state, _ = accounting.count_batch(state, _checked_batch(
        [unreadable], [0], [1], keys=["a.tfrecord"]))
    self.assertEqual(state[-1].numpy(), b"")
    # A second one in a row, in the next batch: the good record after it
    # carries the alarm.
    state, out = accounting.count_batch(state, _checked_batch(
        [unreadable, -1], [1, 2], [1, 1], keys=["b.tfrecord", "k2"]))
    message = out["alarm"].numpy().tolist()[0].decode()
    self.assertIn(f"2 {record_accounting.UNREADABLE_SHARDS_IN_A_ROW} "
                  "(shards/*)", message)
    self.assertTrue(message.endswith("The last: b.tfrecord"), message)

  def test_a_readable_record_breaks_the_run(self):
    accounting = record_accounting.RecordAccounting("shards/*", 2, SIZE)
    unreadable = REASONS.index("unreadable_shard")
    state, out = accounting.count_batch(
        accounting.count_state(),
        _checked_batch([unreadable, -1, unreadable], [0, 1, 2], [1, 1, 1]))
    self.assertEqual(out["alarm"].numpy().tolist(), [b""])
    self.assertEqual(int(state[3]), 1)  # The run after the batch.

  def _settle(self, elements):
    accounting = record_accounting.RecordAccounting("shards/*", 10, SIZE)
    ds = tf.data.Dataset.from_tensors(elements[0])
    for element in elements[1:]:
      ds = ds.concatenate(tf.data.Dataset.from_tensors(element))
    ds = ds.scan(accounting.settle_state(), accounting.settle_counts)
    return [(out["position"].numpy(), out["skipped_records"].numpy().tolist())
            for out, valid in ds if valid]

  def test_decode_gaps_counted_last_record_carries_the_pass_end(self):
    # Position 1 failed to decode; the marker (position 3) ends the pass
    # and is not yielded; the next pass's first record is held back.
    settled = self._settle([_settle_element(0), _settle_element(2),
                            _settle_element(3, end_of_pass=True),
                            _settle_element(4)])
    self.assertEqual(settled, [(0, _counts()), (2, _counts(decode_error=1))])

  def test_a_pass_without_a_usable_record_stops_with_its_counts(self):
    with self.assertRaises(tf.errors.InvalidArgumentError) as raised:
      self._settle([_settle_element(0, end_of_pass=True,
                                    skipped=_counts(malformed_record=3))])
    self.assertEqual(
        record_accounting.no_usable_records(raised.exception),
        "0 of 3 records usable in shards/*: malformed_record 3")


if __name__ == "__main__":
  tf.test.main()
