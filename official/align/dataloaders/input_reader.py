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
the first reason of `skip_counts.SKIP_REASONS` that applies:
  unreadable_shard      records lost to framing damage (a TFRecord checksum
                        or cut: every record from the damaged one on,
                        counted from the shard's framing; a cut or damaged
                        tar: one), or a shard that cannot be opened (deleted
                        after listing: one); the path printed to stderr.
  record_too_large      a tar member above `max_member_bytes`, or a sparse
                        member: never extracted.
  malformed_record      not a parsable `tf.train.Example` (or a tar sample
                        that cannot become one).
  missing_feature       the image or caption feature is absent.
  invalid_utf8          the caption is not valid UTF-8.
  empty_caption         the caption is empty or only whitespace.
  zero_size_image       empty image bytes, or a PNG/GIF/BMP header declaring a
                        zero width or height.
  unknown_image_format  no JPEG/PNG/GIF/BMP/WebP magic bytes.
  image_too_large       the header declares more than `max_pixels` pixels
                        (times GIF frames): not decoded (a decompression
                        bomb; the JPEG size is read anyway before decoding).
  decode_error          the bytes fail to decode (truncated or corrupt image).
Only the image bytes (the first of `FeatureKeys.image_keys` present) and the
caption are read; optional metadata (`width`, `height`, `exif`, `url`,
`status`, ...) is never parsed, whatever its type: the pixels decide the
image's size. Captions are cut to `TextTokenizer.max_text_bytes` before
tokenizing (a 5 MB caption costs what a long one does).

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
counts the failed checks (among them the image size each header declares,
`image_preprocessing.declared_dimensions`, against `max_pixels`), the markers
and the gaps (`malformed_record`), drops the failed records and numbers the
kept ones consecutively. After an order-preserving decode `map`,
`ignore_errors()` drops the images that fail to decode, leaving gaps in that
numbering; a last `scan` (`_settle_counts`) counts those gaps
(`decode_error`) and holds each record back until the next one arrives, so
the last record of a pass also carries the counts of the records dropped
after it.
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
import random as _py_random
import re
from typing import Optional

import gin
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.align.dataloaders import image_preprocessing
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

_MALFORMED = SKIP_REASONS.index("malformed_record")
_DECODE_ERROR = SKIP_REASONS.index("decode_error")
_UNREADABLE_SHARD = SKIP_REASONS.index("unreadable_shard")
# In-band `reason`s of the shard readers' elements that are no skip.
_NOT_SKIPPED = skip_counts.NOT_SKIPPED
_END_OF_PASS = skip_counts.END_OF_PASS
_FATAL = webdataset_shards.FATAL
_CHECK_BATCH_SIZE = 64  # Records checked together.
SHARD_FORMATS = shard_reading.SHARD_FORMATS
IMAGE_DTYPES = ("float32", "uint8")
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
      reader's `max_pixels` (`image_preprocessing.declared_dimensions`).

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
      image_preprocessing.header_has_zero_size(image),
      tf.logical_not(image_preprocessing.is_supported_format(image)),
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
               max_pixels: int = image_preprocessing.DEFAULT_MAX_PIXELS,
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
    # Named in errors (unquoted: tf.debugging.Assert escapes quotes).
    self._pattern_text = (file_pattern if isinstance(file_pattern, str)
                          else ",".join(map(str, file_pattern)))
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
    self._max_unreadable_in_a_row = int(max_unreadable_shards_in_a_row)

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
    too_large = image_preprocessing.decoded_pixels(
        image_preprocessing.declared_dimensions(
            image, self._max_pixels)) > self._max_pixels
    reason = check_record(image, text, images.row_lengths() > 0,
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

  def _count_batch(self, state, batch):
    """`scan` step over checked batches: counts, keeps the good records.

    Counts each failed check and in-band skip, and each gap in the record
    numbering (a record that failed to parse) as a malformed record; numbers
    the kept records consecutively (`position`) so decode failures leave gaps
    too. A fatal in-band marker (a storage error that persisted) or
    `max_unreadable_shards_in_a_row` unreadable shards set an `alarm`
    message that every later kept record carries, for `_finish_batch` (or
    `_settle_counts`, at the end of a pass with no usable record) to raise:
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

  def _no_usable_records(self, records, counts):
    """The message of a pass with no usable record (string scalar)."""
    names = tf.constant(SKIP_REASONS)
    items = tf.strings.join([names, tf.strings.as_string(counts)], " ")
    return tf.strings.join([
        "0 of ", tf.strings.as_string(records),
        f" {NO_USABLE_RECORDS} {self._pattern_text}: ",
        tf.strings.reduce_join(tf.boolean_mask(items, counts > 0),
                               separator=", ")])

  def _settle_counts(self, state, element):
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

  def _settle_initial_state(self):
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

  def _finish_batch(self, batch, unused_valid):
    """Tokenizes, normalizes; the batch's counts are its last record's.

    Raises the `alarm` its records carry (`_count_batch`), if any.
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
    ds = ds.scan((tf.zeros([len(SKIP_REASONS)], tf.int64),
                  tf.constant(-1, tf.int64), tf.constant(0, tf.int64),
                  tf.constant(0, tf.int64), tf.constant(b"")),
                 self._count_batch)
    ds = ds.unbatch()
    ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors()
    ds = ds.scan(self._settle_initial_state(), self._settle_counts)
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
