# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""tf.data input pipeline over image/alt-text shards.

Reads img2dataset TFRecord shards (pure graph) or webdataset tar shards
(a `tf.data.Dataset.from_generator` over `tarfile`, converted to the same
`tf.train.Example` records), decodes and augments images
(`image_preprocessing`), tokenizes captions (`text_preprocessing`) and batches.

Use from a training loop as

  reader = InputReader(file_pattern=..., global_batch_size=..., ...)
  dist_ds = strategy.distribute_datasets_from_function(reader)

(`reader(input_context)` returns the per-replica batched dataset of this input
pipeline).

Batches are dicts:
  image:           float32 [B, image_size, image_size, 3], in `pixel_range`;
                   or, with `image_dtype="uint8"`, the 8-bit pixels (0..255),
                   for the consumer to convert on its device with
                   `reader.normalize_images` (a 4x smaller batch to build and
                   transfer, and ~0.15-0.25 ms less input-pipeline CPU per pair).
  input_word_ids:  int32 [B, seq_length].
  input_mask:      int32 [B, seq_length].
  input_type_ids:  int32 [B, seq_length].
  skipped_records: int64 [len(SKIP_REASONS)], cumulative count, per reason,
                   of the records this input pipeline has dropped so far
                   (up to the last record of the batch).
  key, text:       string [B], only with `return_text=True`.

Skipped records. Bad records never stop the pipeline; each is counted under
the first reason of `SKIP_REASONS` that applies:
  missing_feature       the image or caption feature is absent.
  invalid_utf8          the caption is not valid UTF-8.
  empty_caption         the caption is empty or only whitespace.
  zero_size_image       empty image bytes, zero width/height in the record's
                        metadata or in a PNG/GIF/BMP header.
  unknown_image_format  no JPEG/PNG/GIF/BMP magic bytes.
  decode_error          the bytes fail to decode (truncated or corrupt image,
                        or an unparsable record).
Records are numbered (`enumerate`, which also seeds each record's
augmentation) and parsed by an order-preserving `map`; `ignore_errors()`
drops unparsable records and leaves gaps in the numbering. Batches of 64
parsed records then go through the first five checks at once
(`check_record`, in-graph, vectorised), and a `scan` over these batches counts
the failed checks and the numbering gaps (as decode errors), drops the failed
records and numbers the kept ones consecutively. After an order-preserving
decode `map`, `ignore_errors()` drops the images that fail to decode; each
output batch adds their count (positions up to its last record minus the
records decoded so far). A skipped record is therefore counted in the first
batch whose records come after it (a finite dataset's failures after its last
good record are not counted). In training the data repeats, and counts keep
growing across epochs. The counters are per input pipeline: under
`distribute_datasets_from_function`, replicas fed by the same pipeline see
the same cumulative counter, so take the max over those replicas and sum over
pipelines (`total_skipped` does it for the usual one-pipeline-per-host case).

Images travel as uint8 (the bilinear resize rounded to 8 bits) until batched;
`image_preprocessing.normalize` then makes whole batches float32 (or, with
`image_dtype="uint8"`, the consumer does it on its device).

Performance. Per pair (about 500x400, 80 KB JPEG, 2-core host; CPU time of
all threads), nearly all time is image work: the JPEG decoding of
`decode_and_crop_jpeg` (~1.1 ms, mostly Huffman decoding, which cropping
does not save; about what PIL needs for the same image), the 289x289
bilinear resize + round + flip (~0.4 ms) and the float32 batch (~0.15 ms);
reading, parsing, the batched checks, tokenizing and batching take ~0.35 ms
together. With TensorFlow's default (malloc) CPU allocator every float32
batch (64 MB at batch 64, above glibc's mmap threshold) is a fresh `mmap`
whose page faults add ~1 ms of system time per pair; set
`TF_CPU_ALLOCATOR_USE_BFC=true` in the environment of the training process
(before TensorFlow starts) to recycle that memory instead.
`benchmarks/input_pipeline.py` measures the pipeline.
"""
import functools
import json
import os
import random as _py_random
import tarfile
from typing import Dict, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from official.align.dataloaders import image_preprocessing
from official.align.dataloaders import shard_format
from official.align.dataloaders import shard_reading
from official.align.dataloaders import text_preprocessing

SKIP_REASONS = ("missing_feature", "invalid_utf8", "empty_caption",
                "zero_size_image", "unknown_image_format", "decode_error")
_DECODE_ERROR = SKIP_REASONS.index("decode_error")
_CHECK_BATCH_SIZE = 64  # Records checked together.
SHARD_FORMATS = ("tfrecord", "webdataset")
IMAGE_DTYPES = ("float32", "uint8")
_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "bmp", "webp")


def skip_counts_to_dict(counts) -> Dict[str, int]:
  """int [len(SKIP_REASONS)] -> {reason: count} (for logging)."""
  counts = np.asarray(counts)
  return {name: int(c) for name, c in zip(SKIP_REASONS, counts)}


def total_skipped(per_replica_counts: Sequence) -> np.ndarray:
  """Totals the `skipped_records` of the local replicas of one host.

  Args:
    per_replica_counts: the `skipped_records` of each local replica (e.g.
      `strategy.experimental_local_results(batch["skipped_records"])`), all
      fed by this host's single input pipeline.

  Returns:
    int64 [len(SKIP_REASONS)]: the pipeline's cumulative counts (max over the
    replicas, since they share the pipeline).
  """
  return np.max(np.stack([np.asarray(c) for c in per_replica_counts]), axis=0)


def list_shards(file_pattern) -> list:
  """Sorted files matching a glob (or a list/comma-separated globs)."""
  if isinstance(file_pattern, str):
    file_pattern = file_pattern.split(",")
  files = []
  for pattern in file_pattern:
    files.extend(tf.io.gfile.glob(pattern))
  files = sorted(set(files))
  if not files:
    raise ValueError(f"No files match {file_pattern!r}.")
  return files


def iterate_webdataset_tar(path, keys: shard_format.FeatureKeys =
                           shard_format.DEFAULT_KEYS):
  """Yields serialized `tf.train.Example`s from one webdataset tar shard.

  Members `{key}.jpg` (or another image extension), `{key}.txt` and
  `{key}.json` (img2dataset metadata with `width`/`height`) with the same key
  form one record; a missing member becomes a missing feature.

  Args:
    path: the tar file (any `tf.io.gfile` path); bytes or str.
    keys: feature names of the records produced.

  Yields:
    bytes, serialized `tf.train.Example` in the img2dataset layout.
  """
  if isinstance(path, bytes):
    path = path.decode("utf-8")

  def emit(key, parts):
    width = height = None
    if "json" in parts:
      try:
        meta = json.loads(parts["json"])
        width, height = meta.get("width"), meta.get("height")
        width = int(width) if width is not None else None
        height = int(height) if height is not None else None
      except (ValueError, TypeError, AttributeError):
        width = height = None
    image = None
    for ext in _IMAGE_EXTENSIONS:
      if ext in parts:
        image = parts[ext]
        break
    return shard_format.make_example(
        key, image, parts.get("txt"), width, height,
        keys=keys).SerializeToString()

  with tf.io.gfile.GFile(path, "rb") as f:
    try:
      with tarfile.open(fileobj=f, mode="r|*") as tar:
        current_key, parts = None, {}
        for member in tar:
          if not member.isfile():
            continue
          dirname, basename = os.path.split(member.name)
          if "." not in basename:
            continue
          stem, ext = basename.split(".", 1)
          key = os.path.join(dirname, stem)
          if key != current_key and current_key is not None:
            yield emit(current_key, parts)
            parts = {}
          current_key = key
          parts[ext.lower()] = tar.extractfile(member).read()
        if current_key is not None:
          yield emit(current_key, parts)
    except (tarfile.TarError, EOFError, OSError):
      # A truncated tar ends the shard; records read so far are kept.
      return


def _first(values: tf.RaggedTensor, default) -> tf.Tensor:
  """values[:, 0] of a ragged [n, (k)] tensor, `default` where k == 0."""
  return values.to_tensor(default_value=default, shape=[None, 1])[:, 0]


def check_record(image: tf.Tensor, text: tf.Tensor, has_image: tf.Tensor,
                 has_text: tf.Tensor, width, height) -> tf.Tensor:
  """Index in SKIP_REASONS of the first cheap check a record fails, or -1.

  Elementwise over the leading dimensions [...] (one record, or a batch).

  Args:
    image: string [...], encoded image ("" if absent).
    text: string [...], caption ("" if absent).
    has_image: bool [...], the image feature is present.
    has_text: bool [...], the caption feature is present.
    width: int64 [..., (0 or 1)] (dense or ragged), width metadata if present.
    height: int64 [..., (0 or 1)], height metadata if present.

  Returns:
    int32 [...].
  """
  valid_utf8 = tf.equal(
      tf.strings.unicode_transcode(
          text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD),
      text)
  blank = tf.strings.regex_full_match(text, r"[\s\p{Z}]*")
  meta_zero = tf.logical_or(tf.reduce_any(tf.equal(width, 0), axis=-1),
                            tf.reduce_any(tf.equal(height, 0), axis=-1))
  zero_size = tf.logical_or(meta_zero,
                            image_preprocessing.header_has_zero_size(image))
  unknown = tf.logical_not(image_preprocessing.is_supported_format(image))
  conditions = tf.stack([
      tf.logical_not(tf.logical_and(has_image, has_text)),
      tf.logical_not(valid_utf8),
      blank,
      zero_size,
      unknown,
  ], axis=-1)
  first = tf.argmax(tf.cast(conditions, tf.int32), axis=-1,
                    output_type=tf.int32)
  return tf.where(tf.reduce_any(conditions, axis=-1), first, -1)


# XLA fuses the cast and the scaling into one pass over the batch (half the
# CPU time and memory traffic of TensorFlow's separate ops on a 64 MB batch).
_normalize_fused = tf.function(image_preprocessing.normalize,
                               jit_compile=True)


@gin.configurable
class InputReader:
  """Builds the per-input-pipeline `tf.data.Dataset` of ALIGN batches."""

  def __init__(self,
               file_pattern,
               global_batch_size: int,
               is_training: bool,
               vocab_file: Optional[str] = None,
               tokenizer: Optional[text_preprocessing.TextTokenizer] = None,
               seq_length: int = 64,
               lower_case: bool = True,
               image_size: int = 289,
               resize_size: int = 346,
               random_flip: bool = True,
               pixel_range: str = "unit",
               image_dtype: str = "float32",
               shard_format_name: str = "tfrecord",
               feature_keys: shard_format.FeatureKeys = (
                   shard_format.DEFAULT_KEYS),
               shuffle_buffer_size: int = 10_000,
               cycle_length: int = 8,
               repeat: Optional[bool] = None,
               drop_remainder: bool = True,
               deterministic: bool = False,
               seed: Optional[int] = None,
               return_text: bool = False):
    """Configures the reader.

    Args:
      file_pattern: glob (`tf.io.gfile`), comma-separated globs or list.
      global_batch_size: batch over all replicas; each replica gets
        `input_context.get_per_replica_batch_size(global_batch_size)` (the
        whole batch without an input context).
      is_training: shuffle, repeat, random crop + flip; else central crop,
        file order, one pass.
      vocab_file: vocab.txt for a new `TextTokenizer` (if `tokenizer` is None).
      tokenizer: a `TextTokenizer` to use instead of `vocab_file`.
      seq_length: tokens per caption (with [CLS]/[SEP]); paper: 64.
      lower_case: lower-case captions (new tokenizer only).
      image_size: output side in pixels (paper: 289).
      resize_size: shorter side of the resize the crop is taken from (346).
      random_flip: random horizontal flip in training.
      pixel_range: "unit" ([0, 1]) or "symmetric" ([-1, 1]).
      image_dtype: "float32" (images in `pixel_range`) or "uint8" (raw
        pixels; apply `normalize_images` in the step that consumes them).
      shard_format_name: "tfrecord" (img2dataset) or "webdataset" (tar).
      feature_keys: record feature names.
      shuffle_buffer_size: records in the shuffle buffer (training).
      cycle_length: shards read concurrently.
      repeat: repeat forever; defaults to `is_training`.
      drop_remainder: drop the last partial batch (static batch dimension).
      deterministic: fixed seed (`seed` or 0) and ordered interleave/maps, so
        two runs give identical batches.
      seed: shuffle/augmentation seed; random if None and not deterministic.
      return_text: also return `key` and `text` string [B] features.
    """
    if image_dtype not in IMAGE_DTYPES:
      raise ValueError(f"image_dtype must be in {IMAGE_DTYPES}, "
                       f"got {image_dtype!r}.")
    if pixel_range not in image_preprocessing.PIXEL_RANGES:
      raise ValueError(f"pixel_range must be in "
                       f"{image_preprocessing.PIXEL_RANGES}, "
                       f"got {pixel_range!r}.")
    if shard_format_name not in SHARD_FORMATS:
      raise ValueError(f"shard_format_name must be in {SHARD_FORMATS}.")
    if tokenizer is None:
      if vocab_file is None:
        raise ValueError("Pass either `tokenizer` or `vocab_file`.")
      tokenizer = text_preprocessing.TextTokenizer(
          vocab_file, seq_length=seq_length, lower_case=lower_case)
    self._files = list_shards(file_pattern)
    self._global_batch_size = global_batch_size
    self._is_training = is_training
    self._tokenizer = tokenizer
    self._image_size = image_size
    self._resize_size = resize_size
    self._random_flip = random_flip
    self._pixel_range = pixel_range
    self._image_dtype = image_dtype
    self._shard_format = shard_format_name
    self._keys = feature_keys
    self._shuffle_buffer_size = shuffle_buffer_size
    self._cycle_length = cycle_length
    self._repeat = is_training if repeat is None else repeat
    self._drop_remainder = drop_remainder
    self._deterministic = deterministic
    if seed is None:
      seed = 0 if deterministic else _py_random.SystemRandom().randrange(2**31)
    self._seed = int(seed)
    self._return_text = return_text

  @property
  def tokenizer(self) -> text_preprocessing.TextTokenizer:
    return self._tokenizer

  def normalize_images(self, images: tf.Tensor) -> tf.Tensor:
    """Batch `image` -> float32 in `pixel_range` (identity if already float)."""
    if images.dtype == tf.uint8:
      return image_preprocessing.normalize(images, self._pixel_range)
    return images

  def _read_fn(self) -> shard_reading.ReadFn:
    """File name → dataset of its serialized records."""
    if self._shard_format == "tfrecord":
      return tf.data.TFRecordDataset
    keys = self._keys

    def read(filename):
      return tf.data.Dataset.from_generator(
          lambda f: iterate_webdataset_tar(f, keys),
          output_signature=tf.TensorSpec([], tf.string),
          args=(filename,))
    return read

  def _parse(self, index, serialized):
    """Number, record -> (number, dict of 1-D features); raises if unparsable."""
    keys = self._keys
    spec = {
        keys.image: tf.io.RaggedFeature(tf.string),
        keys.text: tf.io.RaggedFeature(tf.string),
        keys.key: tf.io.RaggedFeature(tf.string),
        keys.width: tf.io.RaggedFeature(tf.int64),
        keys.height: tf.io.RaggedFeature(tf.int64),
    }
    return index, tf.io.parse_single_example(serialized, spec)

  def _check_batch(self, index, parsed):
    """Ragged batch of parsed records -> dict of [n] `reason`, `image_bytes`..."""
    keys = self._keys
    image = _first(parsed[keys.image], b"")
    text = _first(parsed[keys.text], b"")
    reason = check_record(image, text,
                          parsed[keys.image].row_lengths() > 0,
                          parsed[keys.text].row_lengths() > 0,
                          parsed[keys.width], parsed[keys.height])
    return {"index": index, "reason": reason, "image_bytes": image,
            "text": text, "key": _first(parsed[keys.key], b"")}

  @staticmethod
  def _count_batch(state, batch):
    """`scan` step over checked batches: counts, keeps the good records.

    Counts each failed check, and each gap in the record numbering (a record
    that failed to parse) as a decode error; numbers the kept records
    consecutively (`position`) so decode failures leave gaps too.

    Args:
      state: (int64 [len(SKIP_REASONS)] counts so far, int64 last record
        number seen, int64 records kept so far).
      batch: dict of [n] tensors from `_check_batch`.

    Returns:
      The new state and the kept records, each with its cumulative
      `skipped_records` [len(SKIP_REASONS)] and its `position`.
    """
    counts, last_index, kept = state
    index, reason = batch["index"], batch["reason"]
    num_reasons = len(SKIP_REASONS)
    gaps = index - tf.concat([[last_index], index[:-1]], 0) - 1
    per_record = (
        tf.cast(reason >= 0, tf.int64)[:, None] *
        tf.one_hot(tf.maximum(reason, 0), num_reasons, dtype=tf.int64) +
        gaps[:, None] * tf.one_hot(_DECODE_ERROR, num_reasons, dtype=tf.int64))
    cumulative = counts + tf.cumsum(per_record, axis=0)
    good = reason < 0
    position = kept + tf.cumsum(tf.cast(good, tf.int64)) - 1
    out = {k: tf.boolean_mask(batch[k], good)
           for k in ("index", "image_bytes", "text", "key")}
    out["skipped_records"] = tf.boolean_mask(cumulative, good)
    out["position"] = tf.boolean_mask(position, good)
    state = (cumulative[-1], index[-1], position[-1] + 1)
    return state, out

  def _decode(self, element):
    """Decodes the image; raises (and is dropped) on undecodable bytes."""
    seed = tf.stack([
        tf.constant(self._seed % (2**31), tf.int32),
        tf.cast(element["index"] % (2**31), tf.int32)
    ])
    image = image_preprocessing.decode_crop_resize(
        element["image_bytes"],
        is_training=self._is_training,
        resize_size=self._resize_size,
        crop_size=self._image_size,
        random_flip=self._random_flip,
        seed=seed)
    return {"position": element["position"], "image": image,
            "text": element["text"], "key": element["key"],
            "skipped_records": element["skipped_records"]}

  def _finish_batch(self, batch_size, batch_number, batch):
    """Adds the decode errors to the counts, tokenizes, normalizes."""
    # Every batch but the last is full, so `decoded` records came out of the
    # decoder up to here; the others up to the last position failed.
    decoded = (batch_number * batch_size +
               tf.shape(batch["position"], out_type=tf.int64)[0])
    decode_errors = batch["position"][-1] + 1 - decoded
    image = batch["image"]
    if self._image_dtype == "float32":
      image = _normalize_fused(image, self._pixel_range)
    out = {"image": image}
    out.update(self._tokenizer(batch["text"]))
    out["skipped_records"] = batch["skipped_records"][-1] + (
        decode_errors * tf.one_hot(_DECODE_ERROR, len(SKIP_REASONS),
                                   dtype=tf.int64))
    if self._return_text:
      out["key"] = batch["key"]
      out["text"] = batch["text"]
    return out

  def __call__(
      self,
      input_context: Optional[tf.distribute.InputContext] = None
  ) -> tf.data.Dataset:
    """The dataset of this input pipeline (see the module docstring)."""
    batch_size = self._global_batch_size
    if input_context is not None:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    ds = shard_reading.read_sharded_records(
        self._files, self._read_fn(), input_context,
        is_training=self._is_training, repeat=self._repeat,
        shuffle_buffer_size=self._shuffle_buffer_size,
        cycle_length=self._cycle_length, deterministic=self._deterministic,
        seed=self._seed)
    ds = ds.enumerate()  # Seeds the augmentation; gaps count parse errors.
    # Maps up to the `scan`s keep the order: the counts rely on it.
    ds = ds.map(self._parse, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors()
    # The cheap checks and their counts run on batches of records (one op per
    # batch instead of ~40 per record).
    ds = ds.ragged_batch(_CHECK_BATCH_SIZE)
    ds = ds.map(self._check_batch, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.scan((tf.zeros([len(SKIP_REASONS)], tf.int64),
                  tf.constant(-1, tf.int64), tf.constant(0, tf.int64)),
                 self._count_batch)
    ds = ds.unbatch()
    ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors()
    ds = ds.batch(batch_size, drop_remainder=self._drop_remainder)
    ds = ds.enumerate()
    ds = ds.map(functools.partial(self._finish_batch, batch_size),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=self._deterministic)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = self._deterministic
    options.experimental_optimization.map_parallelization = True
    return ds.with_options(options)


@gin.configurable
def build_dataset(file_pattern,
                  global_batch_size: int,
                  is_training: bool,
                  input_context: Optional[tf.distribute.InputContext] = None,
                  **kwargs) -> tf.data.Dataset:
  """Functional form: `InputReader(...)(input_context)`.

  Args:
    file_pattern: see `InputReader`.
    global_batch_size: see `InputReader`.
    is_training: see `InputReader`.
    input_context: the `tf.distribute.InputContext` of this pipeline, or None.
    **kwargs: further `InputReader` arguments.

  Returns:
    The batched dataset (see the module docstring for the element dict).
  """
  return InputReader(file_pattern, global_batch_size, is_training,
                     **kwargs)(input_context)
