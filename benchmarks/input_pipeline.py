# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Input pipeline throughput: tf.data reader vs. a per-example PIL loop.

Writes `--num_pairs` JPEG image/alt-text pairs (about 400x500 px) as
img2dataset TFRecord shards in a temporary directory, learns a WordPiece
vocab from their captions, then measures pairs per second for
read + decode + augment (resize shorter side to 346, random 289 crop, flip)
+ tokenize (64 tokens) + batch:

  tfdata:  `official.align.dataloaders.input_reader.InputReader` (all cores),
           float32 batches (the default), then uint8 batches
           (`image_dtype="uint8"`, the float conversion left to the model's
           device).
  python:  one process, per example: PIL open, resize, crop, flip, numpy
           normalise, and a pure-Python greedy WordPiece tokenizer on the
           same vocab; batches stacked with numpy.

Prints a summary and one JSON line per measurement:

  .venv/bin/python benchmarks/input_pipeline.py [--num_pairs=2000]

`run()` returns the comparisons in the common result format
(`benchmarks/results.py`) for `benchmarks/run_all.py` (`make bench`).

TensorFlow's CPU allocator is switched to its BFC allocator
(`TF_CPU_ALLOCATOR_USE_BFC=true`, unless already set in the environment) as
recommended for training jobs: with the default (malloc) allocator every
64 x 289 x 289 x 3 float32 batch (64 MB, above glibc's mmap threshold) is a
fresh `mmap`, and its page faults cost about 1 ms of system CPU time per
pair. Run with `TF_CPU_ALLOCATOR_USE_BFC=false` to measure the default. The
Python loop (numpy/PIL, malloc) is not affected by the setting.
"""
import os
# Before TensorFlow creates its CPU allocator.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import io  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json
import resource
import random
import re
import struct
import sys
import tempfile
import time
import unicodedata

from absl import app
from absl import flags
import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import build_vocab
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_pairs", 2000, "Pairs written to the shards.")
flags.DEFINE_integer("num_shards", 8, "Shards.")
flags.DEFINE_integer("batch_size", 64, "Batch size of both pipelines.")
flags.DEFINE_integer("tf_batches", 40, "Timed tf.data batches.")
flags.DEFINE_integer("warmup_batches", 5, "Untimed tf.data batches first.")
flags.DEFINE_integer("python_pairs", 512, "Timed pairs of the Python loop.")
flags.DEFINE_integer("resize_size", 346, "Shorter side after resize.")
flags.DEFINE_integer("crop_size", 289, "Crop side.")
flags.DEFINE_integer("seq_length", 64, "Tokens per caption.")
flags.DEFINE_string("work_dir", None, "Where to write shards (temp if None).")

_WORDS = ("photo", "image", "picture", "red", "blue", "green", "old", "new",
          "house", "car", "dog", "cat", "tree", "river", "mountain", "city",
          "street", "beach", "sunset", "portrait", "woman", "man", "child",
          "vintage", "modern", "kitchen", "garden", "wedding", "dress",
          "shoes", "stock", "free", "download", "high", "resolution",
          "background", "wallpaper", "design", "logo", "illustration",
          "vector", "art", "painting", "drawing", "black", "white", "the",
          "of", "a", "in", "on", "with", "and", "for", "beautiful", "cute",
          "small", "large", "front", "view", "close", "up", "night", "day")


def _make_image(rng, width, height, grain):
  """Smooth random colours plus grain, uint8 [height, width, 3].

  Args:
    rng: numpy Generator.
    width: pixels.
    height: pixels.
    grain: uint8 [H >= height, W >= width, 3] values in [0, 32), XORed in at a
      random offset (cheap texture so the JPEGs have realistic sizes).
  """
  low = rng.integers(0, 256, [height // 40 + 2, width // 40 + 2, 3],
                     dtype=np.uint8)
  image = np.asarray(Image.fromarray(low).resize((width, height),
                                                 Image.BICUBIC))
  y = int(rng.integers(grain.shape[0] - height + 1))
  x = int(rng.integers(grain.shape[1] - width + 1))
  return np.bitwise_xor(image, grain[y:y + height, x:x + width])


def _make_caption(rng):
  n = int(rng.integers(5, 25))
  words = [_WORDS[i] for i in rng.integers(len(_WORDS), size=n)]
  if rng.random() < 0.3:
    words.append(f"IMG_{int(rng.integers(10000)):04d}.jpg")
  return " ".join(words).capitalize()


def write_shards(work_dir, num_pairs, num_shards, seed=0):
  """Writes the JPEG shards; returns their glob."""
  rng = np.random.default_rng(seed)
  grain = rng.integers(0, 32, [600, 700, 3], dtype=np.uint8)
  writers = [tf.io.TFRecordWriter(
      os.path.join(work_dir, f"bench-{k:05d}.tfrecord"))
             for k in range(num_shards)]
  for i in range(num_pairs):
    width = int(rng.integers(450, 551))
    height = int(rng.integers(360, 441))
    buf = io.BytesIO()
    Image.fromarray(_make_image(rng, width, height, grain)).save(
        buf, format="JPEG", quality=90)
    writers[i % num_shards].write(shard_format.make_example(
        f"{i:06d}", buf.getvalue(), _make_caption(rng), width,
        height).SerializeToString())
  for w in writers:
    w.close()
  return os.path.join(work_dir, "bench-*.tfrecord")


# ---------------------------------------------------------------- baseline


def _read_tfrecords(paths):
  """Pure-Python TFRecord framing reader (no CRC check): yields bytes."""
  for path in paths:
    with open(path, "rb") as f:
      while True:
        header = f.read(12)
        if len(header) < 12:
          break
        (length,) = struct.unpack("<Q", header[:8])
        data = f.read(length)
        f.read(4)
        yield data


class PythonWordPiece:
  """BERT basic tokenizer + greedy longest-match WordPiece, in Python."""

  def __init__(self, vocab_file, seq_length, lower_case=True):
    with open(vocab_file, encoding="utf-8") as f:
      self.vocab = {t.rstrip("\n"): i for i, t in enumerate(f)}
    self.seq_length = seq_length
    self.lower_case = lower_case
    self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
    self.pad, self.unk = self.vocab["[PAD]"], self.vocab["[UNK]"]
    self._split = re.compile(r"\w+|[^\w\s]", re.UNICODE)

  def _wordpiece(self, word):
    if len(word) > 100:
      return [self.unk]
    out, start = [], 0
    while start < len(word):
      end, cur = len(word), None
      while start < end:
        piece = word[start:end] if start == 0 else "##" + word[start:end]
        if piece in self.vocab:
          cur = self.vocab[piece]
          break
        end -= 1
      if cur is None:
        return [self.unk]
      out.append(cur)
      start = end
    return out

  def __call__(self, text):
    if self.lower_case:
      text = unicodedata.normalize("NFD", text.lower())
      text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    ids = []
    for word in self._split.findall(text):
      # "_" is punctuation for BERT but a word character for `re`.
      for part in re.split(r"(_)", word):
        if part:
          ids.extend(self._wordpiece(part))
    ids = [self.cls] + ids[:self.seq_length - 2] + [self.sep]
    mask = [1] * len(ids) + [0] * (self.seq_length - len(ids))
    ids = ids + [self.pad] * (self.seq_length - len(ids))
    return ids, mask


def python_pipeline(paths, tokenizer, resize_size, crop_size, batch_size,
                    seed=0):
  """Yields batches like the reader's, built one example at a time."""
  rnd = random.Random(seed)
  images, ids, masks = [], [], []
  while True:
    for record in _read_tfrecords(paths):
      feature = tf.train.Example.FromString(record).features.feature
      image = Image.open(io.BytesIO(feature["jpg"].bytes_list.value[0]))
      image = image.convert("RGB")
      w, h = image.size
      scale = resize_size / min(w, h)
      image = image.resize((max(resize_size, round(w * scale)),
                            max(resize_size, round(h * scale))),
                           Image.BILINEAR)
      w, h = image.size
      x, y = rnd.randint(0, w - crop_size), rnd.randint(0, h - crop_size)
      image = image.crop((x, y, x + crop_size, y + crop_size))
      if rnd.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
      images.append(np.asarray(image, np.float32) / 255.0)
      i, m = tokenizer(feature["txt"].bytes_list.value[0].decode("utf-8"))
      ids.append(i)
      masks.append(m)
      if len(images) == batch_size:
        yield {"image": np.stack(images),
               "input_word_ids": np.asarray(ids, np.int32),
               "input_mask": np.asarray(masks, np.int32),
               "input_type_ids": np.zeros([batch_size, len(ids[0])],
                                          np.int32)}
        images, ids, masks = [], [], []


def _cpu_seconds():
  """User + system CPU time of this process (all threads), seconds."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _emit(record):
  print(json.dumps(record), flush=True)


def measure(num_pairs: int = 2000, num_shards: int = 8, batch_size: int = 64,
            tf_batches: int = 40, warmup_batches: int = 5,
            python_pairs: int = 512, resize_size: int = 346,
            crop_size: int = 289, seq_length: int = 64, work_dir=None):
  """Measures both pipelines in this process.

  Returns:
    dict: `tfdata` (float32 batches), `tfdata_uint8` and `python_pil`
    (pairs_per_s, pairs_per_s_per_core, pairs_per_cpu_s, cpu_ms_per_pair,
    pairs_timed, cores), `ratios` and `ratios_uint8` (tf.data over the PIL
    loop: total, per_core, per_cpu_s) and `settings`.
  """
  cores = len(os.sched_getaffinity(0)) if hasattr(
      os, "sched_getaffinity") else os.cpu_count()
  tmp = None
  if work_dir is None:
    tmp = tempfile.TemporaryDirectory()
    work_dir = tmp.name
  t0 = time.perf_counter()
  pattern = write_shards(work_dir, num_pairs, num_shards)
  vocab = build_vocab.learn_vocab(pattern, vocab_size=4000,
                                  learn_params={"lower_thresh": 2})
  vocab_file = os.path.join(work_dir, "vocab.txt")
  build_vocab.write_vocab(vocab, vocab_file)
  print(f"# wrote {num_pairs} pairs + vocab ({len(vocab)} tokens) in "
        f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)

  # tf.data: the default float32 batches, then uint8 batches (the float
  # conversion left to the consumer's device).
  tf_figures = {}
  for image_dtype in input_reader.IMAGE_DTYPES:
    reader = input_reader.InputReader(
        pattern, batch_size, is_training=True, vocab_file=vocab_file,
        seq_length=seq_length, image_size=crop_size, resize_size=resize_size,
        image_dtype=image_dtype, seed=0)
    it = iter(reader())
    for _ in range(warmup_batches):
      next(it)
    # `next` returns computed tensors, as a TF train step consumes them; no
    # `.numpy()`, whose copy of each batch (64 MB in float32, ~0.3 ms of
    # page faults per pair) is no part of the pipeline.
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    for _ in range(tf_batches):
      batch = next(it)
    tf_figures[image_dtype] = (time.perf_counter() - start,
                               _cpu_seconds() - cpu_start)
    assert batch["image"].shape == (batch_size, crop_size, crop_size, 3)
    assert batch["image"].dtype == image_dtype
    del it

  # Per-example Python.
  tokenizer = PythonWordPiece(vocab_file, seq_length)
  paths = sorted(tf.io.gfile.glob(pattern))
  gen = python_pipeline(paths, tokenizer, resize_size, crop_size, batch_size)
  next(gen)  # Warm-up.
  num_batches = max(1, python_pairs // batch_size)
  start, cpu_start = time.perf_counter(), _cpu_seconds()
  for _ in range(num_batches):
    next(gen)
  py_time = time.perf_counter() - start
  py_cpu = _cpu_seconds() - cpu_start
  if tmp is not None:
    tmp.cleanup()

  tf_pairs = tf_batches * batch_size
  py_pairs = num_batches * batch_size
  py_rate = py_pairs / py_time
  python = dict(cores=1, pairs_per_s=py_rate, pairs_per_s_per_core=py_rate,
                pairs_per_cpu_s=py_pairs / py_cpu,
                cpu_ms_per_pair=1000 * py_cpu / py_pairs,
                pairs_timed=py_pairs)
  out = dict(python_pil=python)
  for image_dtype, (tf_time, tf_cpu) in tf_figures.items():
    tf_rate = tf_pairs / tf_time
    name = "tfdata" if image_dtype == "float32" else "tfdata_" + image_dtype
    out[name] = dict(cores=cores, pairs_per_s=tf_rate,
                     pairs_per_s_per_core=tf_rate / cores,
                     pairs_per_cpu_s=tf_pairs / tf_cpu,
                     cpu_ms_per_pair=1000 * tf_cpu / tf_pairs,
                     pairs_timed=tf_pairs, image_dtype=image_dtype)
    # Per core: wall-clock rate / cores used, and pairs per CPU-second of
    # this process (robust to other load on a shared machine).
    out["ratios" if image_dtype == "float32" else "ratios_" + image_dtype] = (
        dict(total=tf_rate / py_rate,
             per_core=(tf_rate / cores) / py_rate,
             per_cpu_s=(tf_pairs / tf_cpu) / python["pairs_per_cpu_s"]))
  return dict(
      out,
      settings=dict(resize_size=resize_size, crop_size=crop_size,
                    seq_length=seq_length, batch_size=batch_size,
                    image_px="~500x400 JPEG q90",
                    tf_cpu_allocator_use_bfc=os.environ.get(
                        "TF_CPU_ALLOCATOR_USE_BFC"),
                    load_avg_1m=os.getloadavg()[0]
                    if hasattr(os, "getloadavg") else None))


def run(num_pairs: int = 1000, tf_batches: int = 20,
        python_pairs: int = 384):
  """The input-pipeline comparisons in the common result format."""
  from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
  m = measure(num_pairs=num_pairs, tf_batches=tf_batches,
              python_pairs=python_pairs)
  tfdata, python = m["tfdata"], m["python_pil"]
  uint8 = m["tfdata_uint8"]
  extra = dict(m["settings"], tfdata_cores=tfdata["cores"])
  return [
      results_lib.result(
          "input pipeline: InputReader (tf.data), per CPU-second",
          "pairs per CPU-second", tfdata["pairs_per_cpu_s"],
          "per-example PIL + Python WordPiece loop",
          python["pairs_per_cpu_s"], goal=">= 3x per core", goal_ratio=3.0,
          **extra),
      results_lib.result(
          "input pipeline: InputReader (tf.data, uint8 batches), per "
          "CPU-second", "pairs per CPU-second", uint8["pairs_per_cpu_s"],
          "per-example PIL + Python WordPiece loop (float32)",
          python["pairs_per_cpu_s"], goal=">= 3x per core", goal_ratio=3.0,
          **extra),
      results_lib.result(
          "input pipeline: InputReader (tf.data), wall clock per core",
          "pairs/s per core", tfdata["pairs_per_s_per_core"],
          "per-example PIL + Python loop (1 core)",
          python["pairs_per_s_per_core"], goal=">= 3x per core",
          goal_ratio=3.0, **extra),
      results_lib.result(
          f"input pipeline: InputReader (tf.data), wall clock, "
          f"{tfdata['cores']} cores", "pairs/s", tfdata["pairs_per_s"],
          "per-example PIL + Python loop (1 core)", python["pairs_per_s"],
          goal=None, **extra),
  ]


def main(argv):
  del argv
  m = measure(FLAGS.num_pairs, FLAGS.num_shards, FLAGS.batch_size,
              FLAGS.tf_batches, FLAGS.warmup_batches, FLAGS.python_pairs,
              FLAGS.resize_size, FLAGS.crop_size, FLAGS.seq_length,
              FLAGS.work_dir)
  python = m["python_pil"]
  for name in ("tfdata", "tfdata_uint8", "python_pil"):
    _emit(dict(m["settings"], pipeline=name,
               **{k: round(v, 2) if isinstance(v, float) else v
                  for k, v in m[name].items()}))
  for key in ("ratios", "ratios_uint8"):
    _emit({key + "_" + k: round(v, 2) for k, v in m[key].items()})
  for name, key in (("tfdata", "ratios"), ("tfdata_uint8", "ratios_uint8")):
    figures, ratios = m[name], m[key]
    print(f"# {name:13s}: {figures['pairs_per_s']:7.1f} pairs/s on "
          f"{figures['cores']} cores ({figures['pairs_per_s_per_core']:.1f} "
          f"/core, {figures['cpu_ms_per_pair']:.2f} CPU-ms/pair); vs PIL: "
          f"{ratios['total']:.2f}x total, {ratios['per_core']:.2f}x per core "
          f"(wall), {ratios['per_cpu_s']:.2f}x per CPU-second", file=sys.stderr)
  print(f"# PIL+python   : {python['pairs_per_s']:7.1f} pairs/s on 1 core "
        f"({python['cpu_ms_per_pair']:.2f} CPU-ms/pair)", file=sys.stderr)


if __name__ == "__main__":
  app.run(main)
