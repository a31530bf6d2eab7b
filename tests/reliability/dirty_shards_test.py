"""Property test: the input pipeline over randomly damaged shards.

Hypothesis writes one or two TFRecord shards holding a random mix of valid
records and every kind of damage `InputReader` knows. The pipeline must not
raise, must yield exactly the valid records in file order, and its
cumulative `skipped_records` must equal, at every yielded record, the
damaged records read before it, per reason (nothing lost or
double-counted). A "huge" caption (5,000 words, ~30 KB) is valid: it is
truncated by tokenisation to `seq_length` tokens ([CLS] ... [SEP], no
padding).

Counting is checked over one full pass plus the first record of the next
(the reader repeats): a damaged record is counted by the next yielded record,
and the last record of a pass also counts the damage after it in that pass.
"""
import collections
import io
import os
import tempfile

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format
from official.align.dataloaders import text_preprocessing

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue",
         "circle", "square", "photo"]
SEQ_LENGTH = 8
CLS, SEP = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")


def _encode(fmt):
  buf = io.BytesIO()
  Image.new("RGB", (12, 10), (200, 30, 30)).save(buf, format=fmt)
  return buf.getvalue()


JPEG = _encode("JPEG")
PNG = _encode("PNG")
HUGE_CAPTION = " ".join(["red", "circle", "photo"] * 1700)  # 5,100 words.

# kind -> (image bytes, caption, expected skip reason or None for valid).
# `...` means "leave the feature out".
KINDS = {
    "valid_jpeg": (JPEG, "a red circle", None),
    "valid_png": (PNG, "a blue square", None),
    "huge_caption": (JPEG, HUGE_CAPTION, None),
    "missing_image": (..., "a red circle", "missing_feature"),
    "missing_caption": (JPEG, ..., "missing_feature"),
    "non_utf8_caption": (JPEG, b"red \xff\xfe circle", "invalid_utf8"),
    "empty_caption": (JPEG, "", "empty_caption"),
    "blank_caption": (JPEG, " \t\u3000\n", "empty_caption"),
    "empty_image": (b"", "a red circle", "zero_size_image"),
    "not_an_image": (b"<html>404</html>", "a red circle",
                     "unknown_image_format"),
    "truncated_jpeg": (JPEG[:len(JPEG) // 3], "a red circle", "decode_error"),
    "corrupt_jpeg": (b"\xff\xd8\xff" + b"\x00" * 300, "a blue circle",
                     "decode_error"),
    "not_an_example": (None, None, "malformed_record"),
}
VALID_KINDS = [k for k, v in KINDS.items() if v[2] is None]


@pytest.fixture(scope="module")
def tokenizer_and_dir():
  directory = tempfile.mkdtemp()
  vocab = os.path.join(directory, "vocab.txt")
  with open(vocab, "w") as f:
    f.write("\n".join(VOCAB) + "\n")
  return text_preprocessing.TextTokenizer(vocab, seq_length=SEQ_LENGTH), (
      directory)


def _write_shard(path, records):
  with tf.io.TFRecordWriter(path) as writer:
    for key, kind in records:
      image, caption, _ = KINDS[kind]
      if kind == "not_an_example":
        writer.write(b"\x0a\xff\xff not a tf.train.Example")
        continue
      writer.write(shard_format.make_example(
          key, None if image is ... else image,
          None if caption is ... else caption).SerializeToString())


def _read(tokenizer, pattern, num_elements):
  reader = input_reader.InputReader(
      pattern, 1, is_training=False, tokenizer=tokenizer, image_size=8,
      resize_size=10, repeat=True, cycle_length=1, deterministic=True,
      return_text=True)
  return list(reader().take(num_elements).as_numpy_iterator())


@settings(max_examples=12, deadline=None, derandomize=True)
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1,
                      max_size=14).filter(
                          lambda ks: any(k in VALID_KINDS for k in ks)),
       split=st.integers(0, 14))
def test_damaged_records_are_skipped_and_counted_exactly(tokenizer_and_dir,
                                                         kinds, split):
  tokenizer, root = tokenizer_and_dir
  directory = tempfile.mkdtemp(dir=root)
  records = [(f"r{i:02d}-{kind}", kind) for i, kind in enumerate(kinds)]
  split = min(split, len(records))  # Shard b may be empty.
  _write_shard(os.path.join(directory, "a.tfrecord"), records[:split])
  _write_shard(os.path.join(directory, "b.tfrecord"), records[split:])

  expected_keys, expected_counts = [], []
  damaged = collections.Counter()
  for _ in range(2):  # One pass and the next one.
    for key, kind in records:
      reason = KINDS[kind][2]
      if reason is None:
        expected_keys.append(key)
        expected_counts.append(dict(damaged))
      else:
        damaged[reason] += 1
    expected_counts[-1] = dict(damaged)  # The pass's last record.
  num_valid = sum(KINDS[k][2] is None for k in kinds)
  expected_keys = expected_keys[:num_valid + 1]
  expected_counts = expected_counts[:num_valid + 1]

  batches = _read(tokenizer, os.path.join(directory, "*.tfrecord"),
                  num_valid + 1)
  assert [b["key"][0].decode() for b in batches] == expected_keys
  for batch, counts in zip(batches, expected_counts):
    got = input_reader.skip_counts_to_dict(batch["skipped_records"])
    assert got == {r: counts.get(r, 0) for r in input_reader.SKIP_REASONS}, (
        batch["key"][0])
    assert np.all(np.isfinite(batch["image"]))
    if batch["key"][0].decode().endswith("huge_caption"):
      # Valid, truncated to SEQ_LENGTH tokens: [CLS] 6 pieces [SEP].
      ids = batch["input_word_ids"][0]
      assert batch["input_mask"][0].tolist() == [1] * SEQ_LENGTH
      assert ids[0] == CLS and ids[-1] == SEP
      assert set(ids[1:-1]) <= {VOCAB.index(w)
                                for w in ("red", "circle", "photo")}


def test_all_damaged_shard_stops_with_the_counts(tokenizer_and_dir):
  tokenizer, root = tokenizer_and_dir
  path = os.path.join(tempfile.mkdtemp(dir=root), "bad.tfrecord")
  damaged = [k for k in KINDS if KINDS[k][2] is not None]
  _write_shard(path, [(f"r{i}", k) for i, k in enumerate(damaged)])
  reader = input_reader.InputReader(
      path, 1, is_training=False, tokenizer=tokenizer, image_size=8,
      resize_size=10, deterministic=True)
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    list(reader().as_numpy_iterator())
  message = input_reader.no_usable_records(raised.value)
  counts = collections.Counter(KINDS[k][2] for k in damaged)
  assert message == (f"0 of {len(damaged)} records usable in {path}: " +
                     ", ".join(f"{r} {counts[r]}"
                               for r in input_reader.SKIP_REASONS
                               if counts[r]))
