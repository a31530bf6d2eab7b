# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""tf.data input pipeline over image/alt-text shards.

Reads img2dataset TFRecord shards (pure graph, `tfrecord_shards`) or
webdataset tar shards (a `tf.data.Dataset.from_generator` over `tarfile`,
`webdataset_shards`, converted to the same `tf.train.Example` records),
decodes and augments images (`image_preprocessing`), tokenizes captions
(`text_preprocessing`) and batches.

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
the first reason of `skip_counts.SKIP_REASONS` that applies (each reason is
explained there; docs/reliability.md lists every case with its test). Images
whose header declares more than `max_pixels` pixels (times GIF frames) are
never decoded (`image_too_large`); webdataset members above
`max_member_bytes`, and sparse ones, are never extracted (`record_too_large`).
Only the image bytes (the first of `FeatureKeys.image_keys` present) and the
caption are read; optional metadata (`width`, `height`, `exif`, `url`,
`status`, ...) is never parsed, whatever its type: the pixels decide the
image's size. Captions are cut to `TextTokenizer.max_text_bytes` before
tokenizing (a 5 MB caption costs what a long one does).

Every record is either yielded or counted: how is in `record_accounting`.
A pass in which no record survives stops iteration with an
`InvalidArgumentError` naming the file pattern, the records seen and the
count per reason (`no_usable_records` extracts it): an all-bad input fails
within its first pass, never spins. A finite pass (`repeat=False`) keeps its
last partial batch. The counters are per input pipeline (`total_skipped`
sums them over replicas).

Images travel as uint8 (the bilinear resize rounded to 8 bits) until batched;
`image_preprocessing.normalize` then makes whole batches float32 (or, with
`image_dtype="uint8"`, the consumer does it on its device).

Performance (per-pair CPU costs, the allocator setting that saves ~1 ms
of system time per pair): docs/training.md, "Input pipeline".
"""
import functools
import random as _py_random
from typing import Optional

import gin
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.align.dataloaders import image_headers
from official.align.dataloaders import image_preprocessing
from official.align.dataloaders import record_accounting
from official.align.dataloaders import shard_format
from official.align.dataloaders import shard_reading
from official.align.dataloaders import skip_counts
from official.align.dataloaders import text_preprocessing
from official.align.dataloaders import tfrecord_shards
from official.align.dataloaders import webdataset_shards

# Re-exported: the readers' callers know them from here.
SKIP_REASONS = skip_counts.SKIP_REASONS
skip_counts_to_dict = skip_counts.skip_counts_to_dict
total_skipped = skip_counts.total_skipped
read_webdataset_tar = webdataset_shards.read_webdataset_tar
no_usable_records = record_accounting.no_usable_records
NO_USABLE_RECORDS = record_accounting.NO_USABLE_RECORDS
UNREADABLE_SHARDS_IN_A_ROW = record_accounting.UNREADABLE_SHARDS_IN_A_ROW

# In-band `reason`s of the shard readers' elements that are no skip.
_NOT_SKIPPED = skip_counts.NOT_SKIPPED
_END_OF_PASS = skip_counts.END_OF_PASS
_CHECK_BATCH_SIZE = 64  # Records checked together.
SHARD_FORMATS = shard_reading.SHARD_FORMATS
IMAGE_DTYPES = ("float32", "uint8")


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


def _first(values: tf.RaggedTensor, default) -> tf.Tensor:
  """values[:, 0] of a ragged [n, (k)] tensor, `default` where k == 0."""
  return values.to_tensor(default_value=default, shape=[None, 1])[:, 0]


# XLA fuses the cast and the scaling into one pass over the batch (half the
# CPU time and memory traffic of TensorFlow's separate ops on a 64 MB batch).
_normalize_fused = tf.function(image_preprocessing.normalize,
                               jit_compile=True)


# The model's preprocessing is bound once, as `Preprocessing`; these
# arguments override it for programs (tests, benchmarks), not for configs.
_PREPROCESSING_ARGS = ("vocab_file", "seq_length", "lower_case", "image_size",
                       "resize_size", "pixel_range")


@gin.configurable(denylist=_PREPROCESSING_ARGS)
class InputReader:
  """Builds the per-input-pipeline `tf.data.Dataset` of ALIGN batches."""

  def __init__(self,
               file_pattern,
               global_batch_size: int,
               is_training: bool,
               vocab_file: Optional[str] = None,
               tokenizer: Optional[text_preprocessing.TextTokenizer] = None,
               seq_length: Optional[int] = None,
               lower_case: Optional[bool] = None,
               image_size: Optional[int] = None,
               resize_size: Optional[int] = None,
               random_flip: bool = True,
               pixel_range: Optional[str] = None,
               image_dtype: str = "float32",
               shard_format_name: str = "tfrecord",
               feature_keys: shard_format.FeatureKeys = (
                   shard_format.DEFAULT_KEYS),
               shuffle_buffer_size: int = 10_000,
               cycle_length: int = 8,
               repeat: Optional[bool] = None,
               drop_remainder: Optional[bool] = None,
               deterministic: bool = False,
               seed: Optional[int] = None,
               return_text: bool = False,
               max_pixels: int = image_headers.DEFAULT_MAX_PIXELS,
               max_member_bytes: int = (
                   webdataset_shards.DEFAULT_MAX_MEMBER_BYTES),
               max_unreadable_shards_in_a_row: int = 10,
               preprocessing: Optional[
                   preprocessing_lib.Preprocessing] = None):
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
      drop_remainder: static batch dimension; defaults to `repeat`. Refused
        for a finite pass, whose last records it would drop uncounted.
      deterministic: fixed seed (`seed` or 0) and ordered interleave/maps, so
        two runs give identical batches.
      seed: shuffle/augmentation seed; random if None and not deterministic.
      return_text: also return `key` and `text` string [B] features.
      preprocessing: the model's `Preprocessing` (default: the gin-bound
        one); `vocab_file`, `seq_length`, `lower_case`, `image_size`,
        `resize_size` and `pixel_range`, when given, override its fields.
      max_pixels: images whose header declares more pixels (times GIF
        frames) are skipped before decoding (`image_too_large`).
      max_member_bytes: webdataset members above this many bytes, and sparse
        members, are never read (`record_too_large`).
      max_unreadable_shards_in_a_row: stop with an error after this many
        unreadable shards with nothing read in between (storage gone?).
    """
    preprocessing = (preprocessing or preprocessing_lib.Preprocessing()
                     ).replace(**{k: v for k, v in dict(
                         vocab_file=vocab_file, seq_length=seq_length,
                         lower_case=lower_case, image_size=image_size,
                         resize_size=resize_size,
                         pixel_range=pixel_range).items() if v is not None})
    vocab_file, seq_length = preprocessing.vocab_file, preprocessing.seq_length
    lower_case, pixel_range = preprocessing.lower_case, preprocessing.pixel_range
    image_size = preprocessing.image_size
    resize_size = preprocessing.resize_size
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
    if drop_remainder is None:
      drop_remainder = self._repeat
    if drop_remainder and not self._repeat:
      raise ValueError(
          "drop_remainder=True with a finite pass (repeat=False) would drop "
          "the last records of the pass uncounted; use drop_remainder=False "
          "(the last batch may be smaller) or repeat=True.")
    self._drop_remainder = drop_remainder
    self._deterministic = deterministic
    if seed is None:
      seed = 0 if deterministic else _py_random.SystemRandom().randrange(2**31)
    self._seed = int(seed)
    self._return_text = return_text
    if max_pixels < 1 or max_member_bytes < 1 or (
        max_unreadable_shards_in_a_row < 1):
      raise ValueError("max_pixels, max_member_bytes and "
                       "max_unreadable_shards_in_a_row must be >= 1.")
    self._max_pixels = int(max_pixels)
    self._max_member_bytes = int(max_member_bytes)
    self._accounting = record_accounting.RecordAccounting(
        # Named in errors (unquoted: tf.debugging.Assert escapes quotes).
        pattern_text=(file_pattern if isinstance(file_pattern, str)
                      else ",".join(map(str, file_pattern))),
        max_unreadable_in_a_row=int(max_unreadable_shards_in_a_row),
        image_size=image_size)

  @property
  def checkpointable(self) -> bool:
    """Can the iterator go into a checkpoint? Not over webdataset tars, read
    by a Python generator (`tf.data.Dataset.from_generator`)."""
    return self._shard_format != "webdataset"

  @property
  def tokenizer(self) -> text_preprocessing.TextTokenizer:
    return self._tokenizer

  def normalize_images(self, images: tf.Tensor) -> tf.Tensor:
    """Batch `image` -> float32 in `pixel_range` (identity if already float)."""
    if images.dtype == tf.uint8:
      return image_preprocessing.normalize(images, self._pixel_range)
    return images

  def _shard_reader(self) -> shard_reading.ShardReader:
    return shard_reading.shard_reader(self._shard_format, self._keys,
                                      self._max_member_bytes)

  def _parse(self, interpret, index, element):
    """Number, raw element -> (number, features, reason, detail, count).

    `interpret` (the `ShardReader`'s) makes the raw element a (record,
    reason, detail, count). Raises (and is dropped by `ignore_errors`) if the
    record is unparsable.

    Only the image and caption features (and the key) are parsed: optional
    metadata of any type never makes a record unparsable. Markers (in-band
    skips, end of pass) hold "", an empty example.
    """
    keys = self._keys
    spec = {k: tf.io.RaggedFeature(tf.string)
            for k in keys.image_keys + (keys.text, keys.key)}
    serialized, reason, detail, count = interpret(element)
    return (index, tf.io.parse_single_example(serialized, spec), reason,
            detail, count)

  def _check_batch(self, index, parsed, in_band, detail, count):
    """Ragged batch of parsed records -> dict of [n] `reason`, `image_bytes`..."""
    keys = self._keys
    # Counts (and prints) what damaged TFRecord shards lost, if any.
    in_band, detail, count = tfrecord_shards.resolve_lost(in_band, detail,
                                                          count)
    # The first image feature present, per record.
    images = tf.concat([parsed[k] for k in keys.image_keys], axis=1)
    image = _first(images, b"")
    text = _first(parsed[keys.text], b"")
    too_large = image_headers.decoded_pixels(
        image_headers.declared_dimensions(
            image, self._max_pixels)) > self._max_pixels
    reason = record_accounting.check_record(
        image, text, images.row_lengths() > 0,
        parsed[keys.text].row_lengths() > 0, too_large)
    end_of_pass = tf.equal(in_band, _END_OF_PASS)
    # Markers keep their in-band reason; end-of-pass markers always go on.
    reason = tf.where(tf.equal(in_band, _NOT_SKIPPED), reason,
                      tf.where(end_of_pass, -1, in_band))
    key = tf.where(tf.equal(in_band, _NOT_SKIPPED),
                   _first(parsed[keys.key], b""), detail)
    return {"index": index, "reason": reason, "image_bytes": image,
            "text": text, "key": key, "end_of_pass": end_of_pass,
            "count": count}

  def _decode(self, element):
    """Decodes the image; raises (and is dropped) on undecodable bytes.

    Also raises, before decoding, on an image above `max_pixels` that the
    batched header check could not size (a JPEG whose segments it could not
    walk, which libjpeg reads anyway): counted as a decode error.
    """
    seed = tf.stack([
        tf.constant(self._seed % (2**31), tf.int32),
        tf.cast(element["index"] % (2**31), tf.int32)
    ])
    shape = [self._image_size, self._image_size, 3]
    image = tf.cond(
        element["end_of_pass"], lambda: tf.zeros(shape, tf.uint8),
        lambda: image_preprocessing.decode_crop_resize(
            element["image_bytes"],
            is_training=self._is_training,
            resize_size=self._resize_size,
            crop_size=self._image_size,
            random_flip=self._random_flip,
            seed=seed,
            max_pixels=self._max_pixels,
            headers_checked=True))
    return {k: element[k] for k in ("index", "position", "text", "key",
                                    "skipped_records", "end_of_pass", "alarm")
            } | {"image": image}

  def _finish_batch(self, batch, unused_valid):
    """Tokenizes, normalizes; the batch's counts are its last record's.

    Raises the `alarm` its records carry (`RecordAccounting.count_batch`), if
    any.
    """
    alarm = batch["alarm"][-1]
    with tf.control_dependencies([
        tf.debugging.Assert(tf.equal(alarm, ""), [alarm])]):
      image = tf.identity(batch["image"])
    if self._image_dtype == "float32":
      image = _normalize_fused(image, self._pixel_range)
    out = {"image": image}
    out.update(self._tokenizer(batch["text"]))
    out["skipped_records"] = batch["skipped_records"][-1]
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
    reader = self._shard_reader()
    ds = shard_reading.read_sharded_records(
        self._files, reader.read, input_context,
        is_training=self._is_training, repeat=self._repeat,
        shuffle_buffer_size=self._shuffle_buffer_size,
        cycle_length=self._cycle_length, deterministic=self._deterministic,
        seed=self._seed,
        pass_end_marker=reader.pass_end)
    # Numbers seed the augmentation; their gaps count unparsable records.
    ds = ds.enumerate()
    # Every map up to the last `scan` keeps the order: the counts rely on it.
    ds = ds.map(functools.partial(self._parse, reader.interpret),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors()
    # The cheap checks and their counts run on batches of records (one op per
    # batch instead of ~40 per record).
    ds = ds.ragged_batch(_CHECK_BATCH_SIZE)
    ds = ds.map(self._check_batch, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.scan(self._accounting.count_state(),
                 self._accounting.count_batch)
    ds = ds.unbatch()
    ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors()
    ds = ds.scan(self._accounting.settle_state(),
                 self._accounting.settle_counts)
    ds = ds.filter(lambda element, valid: valid)
    ds = ds.batch(batch_size, drop_remainder=self._drop_remainder)
    ds = ds.map(self._finish_batch, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
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
