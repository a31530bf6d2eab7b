# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of the tf.data reader: damaged records, batching, sharding, tar."""
import io
import json
import os
import re
import shutil
import tarfile
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue",
         "circle", "square", "photo", "##s"]


def _encode(fmt, size=(20, 14), mode="RGB", colour=(200, 30, 30)):
  image = Image.new("RGB", size, colour)
  if mode != "RGB":
    image = image.convert(mode)
  buf = io.BytesIO()
  image.save(buf, format=fmt)
  return buf.getvalue()


def _zero_width_png():
  png = bytearray(_encode("PNG"))
  png[16:20] = b"\x00\x00\x00\x00"  # IHDR width.
  return bytes(png)


def _records():
  """(key, image bytes, caption, width, height, expected reason or None)."""
  jpg = _encode("JPEG")
  return [
      ("ok_jpeg", jpg, "a red circle", 20, 14, None),
      ("ok_png", _encode("PNG"), "a blue square", None, None, None),
      ("ok_gif", _encode("GIF"), "red squares", None, None, None),
      ("ok_bmp", _encode("BMP"), "photo", None, None, None),
      ("ok_gray", _encode("JPEG", mode="L"), "a photo", None, None, None),
      ("ok_cmyk", _encode("JPEG", mode="CMYK"), "blue", None, None, None),
      ("no_image", None, "a red circle", None, None, "missing_feature"),
      ("no_text", jpg, None, None, None, "missing_feature"),
      ("bad_utf8", jpg, b"red \xff\xfe circle", None, None, "invalid_utf8"),
      ("empty", jpg, "", None, None, "empty_caption"),
      ("blank", jpg, " \t\n\u3000", None, None, "empty_caption"),
      ("zero_bytes", b"", "a red circle", None, None, "zero_size_image"),
      # Metadata never decides: the pixels say 20x14.
      ("zero_meta", jpg, "a red circle", 0, 14, None),
      ("zero_png", _zero_width_png(), "a red circle", None, None,
       "zero_size_image"),
      ("not_image", b"<html>not found</html>", "a red circle", None, None,
       "unknown_image_format"),
      ("truncated", jpg[:len(jpg) // 3], "a red circle", None, None,
       "decode_error"),
      ("corrupt", b"\xff\xd8\xff" + b"\x00" * 200, "a red circle", None, None,
       "decode_error"),
      ("not_a_proto", None, None, None, None, "malformed_record"),
      ("ok_last", jpg, "a blue circle", None, None, None),
      # Bad records after the last good one are counted too.
      ("truncated_end", jpg[:len(jpg) // 3], "a red circle", None, None,
       "decode_error"),
      ("empty_end", jpg, "", None, None, "empty_caption"),
  ]


def _expected_skip_counts(records):
  """{reason: number of `records` (see `_records`) skipped for it}."""
  expected = {name: 0 for name in input_reader.SKIP_REASONS}
  for r in records:
    if r[5] is not None:
      expected[r[5]] += 1
  return expected


class InputReaderTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
    self.vocab = os.path.join(self.dir, "vocab.txt")
    with open(self.vocab, "w") as f:
      f.write("\n".join(VOCAB) + "\n")

  def _write_tfrecord(self, records, name="damaged.tfrecord"):
    path = os.path.join(self.dir, name)
    with tf.io.TFRecordWriter(path) as w:
      for key, image, caption, width, height, _ in records:
        if key == "not_a_proto":
          w.write(b"\x0a\xff\xff garbage")
          continue
        w.write(shard_format.make_example(key, image, caption, width,
                                          height).SerializeToString())
    return path

  def _reader(self, pattern, batch, **kw):
    kw.setdefault("is_training", False)
    kw.setdefault("return_text", True)
    return input_reader.InputReader(
        pattern, batch, vocab_file=self.vocab, seq_length=8, image_size=8,
        resize_size=10, deterministic=True, **kw)

  def test_damaged_records_are_skipped_and_counted(self):
    records = _records()
    path = self._write_tfrecord(records)
    ds = self._reader(path, 1)()
    batches = list(ds.as_numpy_iterator())
    keys = [b["key"][0].decode() for b in batches]
    self.assertEqual(keys, [r[0] for r in records if r[5] is None])
    final = input_reader.skip_counts_to_dict(batches[-1]["skipped_records"])
    self.assertEqual(final, _expected_skip_counts(records))
    # Every record is read or counted: the last two (bad) ones included.
    self.assertEqual(len(batches) + sum(final.values()), len(records))
    # Counters are cumulative: after `ok_cmyk` (6th) nothing was skipped yet.
    self.assertEqual(batches[5]["skipped_records"].sum(), 0)
    for b in batches:
      self.assertEqual(b["image"].shape, (1, 8, 8, 3))
      self.assertEqual(b["image"].dtype, np.float32)
      self.assertBetween(b["image"].min(), 0.0, 1.0)
      self.assertBetween(b["image"].max(), 0.0, 1.0)
    # Decoded colours: red JPEG, grayscale still 3 equal-ish channels.
    red = batches[0]["image"][0].mean(axis=(0, 1))
    self.assertGreater(red[0], 0.6)
    self.assertLess(red[1], 0.3)
    gray = batches[4]["image"][0]
    self.assertAllClose(gray[..., 0], gray[..., 1], atol=0.02)

  def test_counts_across_check_and_output_batches(self):
    # 4 x 19 records span two check batches (64 records each) and the
    # output batches hold 5: counts carry across both kinds of batch.
    records = [(r[0] if r[0] == "not_a_proto" else f"{r[0]}_{i}",) + r[1:]
               for i in range(4) for r in _records()]
    path = self._write_tfrecord(records)
    batches = list(self._reader(path, 5, drop_remainder=False)()
                   .as_numpy_iterator())
    keys = [k.decode() for b in batches for k in b["key"]]
    self.assertEqual(keys, [r[0] for r in records if r[5] is None])
    expected = _expected_skip_counts(records)
    final = input_reader.skip_counts_to_dict(batches[-1]["skipped_records"])
    self.assertEqual(final, expected)
    totals = [b["skipped_records"].sum() for b in batches]
    self.assertEqual(totals, sorted(totals))  # Cumulative.
    # The first batch ends with the first `ok_gray` (5th good record) and the
    # second with "ok_png_1": every damaged record of copy 0 lies between.
    self.assertEqual(totals[0], 0)
    self.assertEqual(totals[1], sum(expected.values()) // 4)

  def test_uint8_batches(self):
    path = self._write_tfrecord(_records())
    kw = dict(is_training=True, seed=5, pixel_range="symmetric")
    floats = next(iter(self._reader(path, 4, **kw)()))
    reader = self._reader(path, 4, image_dtype="uint8", **kw)
    pixels = next(iter(reader()))
    self.assertEqual(reader().element_spec["image"].dtype, tf.uint8)
    self.assertEqual(pixels["image"].dtype, tf.uint8)
    self.assertAllEqual(pixels["key"], floats["key"])
    self.assertAllClose(reader.normalize_images(pixels["image"]),
                        floats["image"])
    self.assertIs(reader.normalize_images(floats["image"]), floats["image"])
    with self.assertRaisesRegex(ValueError, "image_dtype"):
      self._reader(path, 4, image_dtype="float16")
    with self.assertRaisesRegex(ValueError, "pixel_range"):
      self._reader(path, 4, pixel_range="centered")

  def test_batch_contents_and_types(self):
    path = self._write_tfrecord(_records())
    # Repeating: a static batch dimension (drop_remainder by default).
    spec = self._reader(path, 3, pixel_range="symmetric",
                        repeat=True)().element_spec
    self.assertEqual(spec["image"].shape.as_list(), [3, 8, 8, 3])
    for k in ("input_word_ids", "input_mask", "input_type_ids"):
      self.assertEqual(spec[k].shape.as_list(), [3, 8])
      self.assertEqual(spec[k].dtype, tf.int32)
    self.assertEqual(spec["skipped_records"].shape.as_list(),
                     [len(input_reader.SKIP_REASONS)])
    ds = self._reader(path, 3, pixel_range="symmetric")()
    self.assertEqual(ds.element_spec["image"].shape.as_list(),
                     [None, 8, 8, 3])
    with self.assertRaisesRegex(ValueError, "uncounted"):
      self._reader(path, 3, drop_remainder=True)
    batches = list(ds.as_numpy_iterator())
    # 8 good records; a finite pass keeps its last partial batch.
    self.assertEqual([len(b["key"]) for b in batches], [3, 3, 2])
    first = batches[0]
    # "a red circle" -> [CLS] a red circle [SEP] [PAD]...
    self.assertAllEqual(first["input_word_ids"][0], [2, 5, 6, 8, 3, 0, 0, 0])
    self.assertAllEqual(first["input_mask"][0], [1, 1, 1, 1, 1, 0, 0, 0])
    self.assertLess(first["image"].min(), -0.5)  # [-1, 1] range.

  def test_training_is_deterministic_and_shards_by_pipeline(self):
    good = [r for r in _records() if r[5] is None]
    paths = [self._write_tfrecord(good[i::2], f"s{i}.tfrecord")
             for i in range(2)]
    del paths
    pattern = os.path.join(self.dir, "s*.tfrecord")

    def take(ctx=None):
      ds = self._reader(pattern, 4, is_training=True, seed=3,
                        shuffle_buffer_size=8)(ctx)
      return [b for b in ds.take(3).as_numpy_iterator()]

    a, b = take(), take()
    for x, y in zip(a, b):
      self.assertAllEqual(x["key"], y["key"])
      self.assertAllClose(x["image"], y["image"])
    ctx = tf.distribute.InputContext(num_input_pipelines=2,
                                     input_pipeline_id=1,
                                     num_replicas_in_sync=2)
    sharded = take(ctx)
    self.assertEqual(sharded[0]["image"].shape[0], 2)  # per-replica batch.
    seen = {k.decode() for batch in sharded for k in batch["key"]}
    self.assertTrue(seen)
    self.assertLessEqual(seen, {r[0] for r in good[1::2]})

  def test_distribute_datasets_from_function(self):
    good = [r for r in _records() if r[5] is None]
    path = self._write_tfrecord(good)
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    reader = self._reader(path, 4, is_training=True, return_text=False)
    dist = strategy.distribute_datasets_from_function(reader)
    batch = next(iter(dist))
    images = strategy.experimental_local_results(batch["image"])
    self.assertLen(images, 2)
    self.assertEqual(images[0].shape, (2, 8, 8, 3))
    counts = input_reader.total_skipped(
        strategy.experimental_local_results(batch["skipped_records"]))
    self.assertAllEqual(counts, [0] * len(input_reader.SKIP_REASONS))

  def test_metadata_of_any_type_is_ignored(self):
    jpg = _encode("JPEG")
    path = os.path.join(self.dir, "meta.tfrecord")
    metadata = [
        {},  # Missing.
        {"width": [], "height": []},  # Empty int64 lists.
        {"width": [b""], "height": [b""], "original_width": [b""]},
        {"width": [20], "height": [14], "status": [b"success"]},
        {"width": [b"20"], "exif": [b"{}"], "sha256": [b"ab"],
         "url": [b"http://x/y.jpg"], "json": [b"{"]},
        {"width": [0.5], "height": [-3]},
    ]
    with tf.io.TFRecordWriter(path) as w:
      for i, meta in enumerate(metadata):
        example = shard_format.make_example(f"m{i}", jpg, "a red circle")
        for name, values in meta.items():
          feature = example.features.feature[name]
          if values and isinstance(values[0], bytes):
            feature.bytes_list.value.extend(values)
          elif values and isinstance(values[0], float):
            feature.float_list.value.extend(values)
          else:
            feature.int64_list.value.extend(values)
        w.write(example.SerializeToString())
    batches = list(self._reader(path, 2)().as_numpy_iterator())
    self.assertEqual([k for b in batches for k in b["key"]],
                     [f"m{i}".encode() for i in range(len(metadata))])
    self.assertEqual(batches[-1]["skipped_records"].sum(), 0)

  def test_image_under_another_feature_name(self):
    # img2dataset names the image feature after --encode_format.
    path = os.path.join(self.dir, "png.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
      example = shard_format.make_example("p", None, "a blue square")
      example.features.feature["png"].bytes_list.value.append(_encode("PNG"))
      w.write(example.SerializeToString())
    batches = list(self._reader(path, 1)().as_numpy_iterator())
    self.assertEqual([b["key"][0] for b in batches], [b"p"])

  def test_no_usable_record_stops_within_the_first_pass(self):
    records = [r for r in _records() if r[5] is not None]
    path = self._write_tfrecord(records, "bad.tfrecord")
    counts = _expected_skip_counts(records)
    expected = (f"0 of {len(records)} records usable in {path}: " +
                ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    for is_training in (False, True):
      ds = self._reader(path, 2, is_training=is_training, seed=1)()
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                  re.escape(expected)) as raised:
        next(iter(ds))
      self.assertEqual(input_reader.no_usable_records(raised.exception),
                       expected)

  def test_counts_add_up_under_distribute_datasets_from_function(self):
    records = _records()
    path = self._write_tfrecord(records)
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    reader = self._reader(path, 4)
    dist = strategy.distribute_datasets_from_function(reader)
    read, counts = 0, None
    for batch in dist:
      local = strategy.experimental_local_results(batch["key"])
      read += sum(int(k.shape[0]) for k in local)
      counts = input_reader.total_skipped(
          strategy.experimental_local_results(batch["skipped_records"]))
    self.assertEqual(input_reader.skip_counts_to_dict(counts),
                     _expected_skip_counts(records))
    self.assertEqual(read + int(counts.sum()), len(records))

  def test_webdataset_tar(self):
    path = os.path.join(self.dir, "shard-000.tar")
    with tarfile.open(path, "w") as tar:
      def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
      jpg = _encode("JPEG")
      add("000.jpg", jpg)
      add("000.txt", b"a red circle")
      add("000.json", json.dumps({"width": 20, "height": 14}).encode())
      add("001.jpg", jpg)  # No caption.
      add("002.jpg", jpg)
      add("002.txt", b"blue square")
      # Metadata is not read: a zero width there does not skip the image.
      add("002.json", json.dumps({"width": 0, "height": 14}).encode())
      add("003.png", _encode("PNG"))
      add("003.txt", b"a blue square")
    ds = self._reader(path, 1, shard_format_name="webdataset")()
    batches = list(ds.as_numpy_iterator())
    self.assertEqual([b["key"][0] for b in batches],
                     [b"000", b"002", b"003"])
    counts = input_reader.skip_counts_to_dict(batches[-1]["skipped_records"])
    self.assertEqual(counts["missing_feature"], 1)
    self.assertEqual(sum(counts.values()), 1)


if __name__ == "__main__":
  tf.test.main()
