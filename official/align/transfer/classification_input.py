# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""tf.data reader of image classification data for transfer.

Two sources, told apart by what `source` is:
* a directory: `ImageFolder` layout, one sub-directory per class (sorted
  names → labels 0..C-1) holding JPEG/PNG/GIF/BMP files;
* otherwise a TFRecord glob (comma-separated globs allowed) of
  `tf.train.Example`s with encoded image bytes and an int64 label (keys
  `image/encoded` and `image/class/label` by default: the ImageNet/TFDS
  TFRecord convention; `label_offset=-1` for 1-based ImageNet labels).

Images go through the ALIGN pipeline's `image_preprocessing`: random crop +
flip for training, central crop of the `resize_size` resize for evaluation.
Records that fail to parse or decode are skipped and counted as
`decode_error` (`skipped_records`, indexed like `input_reader.SKIP_REASONS`,
so the trainer reports them); a label outside [0, num_classes) stops the
pipeline with an error naming the source.

Element: `image` float32 [B, S, S, 3] (pixel_range), `label` int32 [B],
`skipped_records` int64 [len(SKIP_REASONS)] (cumulative, this pipeline).
"""
import os
import random as _py_random
from typing import List, Optional, Sequence, Tuple

import gin
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.align.dataloaders import image_preprocessing
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_reading

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
_DECODE_ERROR = input_reader.SKIP_REASONS.index("decode_error")


def list_image_folder(directory: str) -> Tuple[List[str], List[str], List[int]]:
  """(class names, image paths, labels) of an ImageFolder directory."""
  class_names = sorted(
      name for name in tf.io.gfile.listdir(directory)
      if tf.io.gfile.isdir(os.path.join(directory, name)))
  class_names = [name.rstrip("/") for name in class_names]
  paths, labels = [], []
  for label, name in enumerate(class_names):
    for filename in sorted(tf.io.gfile.listdir(os.path.join(directory, name))):
      if filename.lower().endswith(IMAGE_EXTENSIONS):
        paths.append(os.path.join(directory, name, filename))
        labels.append(label)
  if not class_names or not paths:
    raise ValueError(
        f"{directory}: no class sub-directories with images "
        f"({', '.join(IMAGE_EXTENSIONS)}); expected DIR/CLASS/IMAGE.")
  return class_names, paths, labels


@gin.configurable(denylist=["source", "global_batch_size", "is_training",
                            "image_size", "resize_size", "pixel_range"])
class ClassificationInputReader:
  """Builds the per-input-pipeline dataset of (image, label) batches."""

  def __init__(self,
               source: str,
               global_batch_size: int,
               is_training: bool,
               num_classes: Optional[int] = None,
               image_size: Optional[int] = None,
               resize_size: Optional[int] = None,
               random_flip: bool = True,
               pixel_range: Optional[str] = None,
               image_key: str = "image/encoded",
               label_key: str = "image/class/label",
               label_offset: int = 0,
               shuffle_buffer_size: int = 10_000,
               cycle_length: int = 8,
               repeat: Optional[bool] = None,
               drop_remainder: Optional[bool] = None,
               deterministic: bool = False,
               seed: Optional[int] = None,
               preprocessing: Optional[
                   preprocessing_lib.Preprocessing] = None):
    """Configures the reader.

    Args:
      source: ImageFolder directory, or TFRecord glob(s).
      global_batch_size: batch over all replicas (per replica:
        `input_context.get_per_replica_batch_size`).
      is_training: shuffle, repeat, random crop + flip; else central crop,
        one pass in order.
      num_classes: labels must lie in [0, num_classes); None: the number of
        ImageFolder classes, unchecked for TFRecords.
      image_size: output side, pixels (default `preprocessing`'s).
      resize_size: shorter side of the resize the crop is taken from
        (default `preprocessing`'s).
      random_flip: random horizontal flip in training.
      pixel_range: "unit" ([0, 1]) or "symmetric" ([-1, 1]) (default
        `preprocessing`'s).
      image_key: TFRecord feature with the encoded image.
      label_key: TFRecord int64 feature with the label.
      label_offset: added to TFRecord labels (-1 for 1-based labels).
      shuffle_buffer_size: examples in the shuffle buffer (training).
      cycle_length: TFRecord files read concurrently.
      repeat: repeat forever; defaults to `is_training`.
      drop_remainder: static batch dimension; defaults to `is_training`.
      deterministic: fixed seed (`seed` or 0) and ordered maps.
      seed: shuffle/augmentation seed; random if None and not deterministic.
      preprocessing: the tower's `Preprocessing` (default: the gin-bound
        one); the task passes the pre-trained run's.
    """
    preprocessing = preprocessing or preprocessing_lib.Preprocessing()
    image_size = image_size or preprocessing.image_size
    resize_size = resize_size or preprocessing.resize_size
    pixel_range = pixel_range or preprocessing.pixel_range
    self._source = source
    self._global_batch_size = global_batch_size
    self._is_training = is_training
    self._image_size = image_size
    self._resize_size = resize_size
    self._random_flip = random_flip
    self._pixel_range = pixel_range
    self._image_key = image_key
    self._label_key = label_key
    self._label_offset = label_offset
    self._shuffle_buffer_size = shuffle_buffer_size
    self._cycle_length = cycle_length
    self._repeat = is_training if repeat is None else repeat
    self._drop_remainder = (is_training if drop_remainder is None
                            else drop_remainder)
    self._deterministic = deterministic
    if seed is None:
      seed = 0 if deterministic else _py_random.SystemRandom().randrange(2**31)
    self._seed = int(seed)
    if tf.io.gfile.isdir(source):
      self.class_names, self._paths, self._labels = list_image_folder(source)
      if num_classes is not None and num_classes != len(self.class_names):
        raise ValueError(
            f"{source} has {len(self.class_names)} classes "
            f"({self.class_names[:5]}...), but num_classes={num_classes}.")
      num_classes = len(self.class_names)
      self._files = None
    else:
      self.class_names = None
      self._files = input_reader.list_shards(source)
    self.num_classes = num_classes

  def _records(self, input_context: Optional[tf.distribute.InputContext]
               ) -> tf.data.Dataset:
    """(encoded image, label) pairs of this pipeline, shuffled if training."""
    if self._files is None:
      ds = tf.data.Dataset.from_tensor_slices(
          (self._paths, tf.constant(self._labels, tf.int64)))
      ds = ds.shard(*shard_reading.pipeline_shard(input_context))
      if self._is_training:
        ds = ds.shuffle(len(self._paths), seed=self._seed,
                        reshuffle_each_iteration=True)
      if self._repeat:
        ds = ds.repeat()
      return ds.map(lambda path, label: (tf.io.read_file(path), label),
                    num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=self._deterministic)
    ds = shard_reading.read_sharded_records(
        self._files, tf.data.TFRecordDataset, input_context,
        is_training=self._is_training, repeat=self._repeat,
        shuffle_buffer_size=self._shuffle_buffer_size,
        cycle_length=self._cycle_length, deterministic=self._deterministic,
        seed=self._seed)
    spec = {self._image_key: tf.io.FixedLenFeature([], tf.string),
            self._label_key: tf.io.FixedLenFeature([], tf.int64)}

    def parse(serialized):
      parsed = tf.io.parse_single_example(serialized, spec)
      return (parsed[self._image_key],
              parsed[self._label_key] + self._label_offset)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=self._deterministic)

  def _decode(self, index, record):
    image_bytes, label = record
    seed = tf.stack([tf.constant(self._seed % (2**31), tf.int32),
                     tf.cast(index % (2**31), tf.int32)])
    image = image_preprocessing.decode_crop_resize(
        image_bytes, is_training=self._is_training,
        resize_size=self._resize_size, crop_size=self._image_size,
        random_flip=self._random_flip, seed=seed)
    return index, image, tf.cast(label, tf.int32)

  @staticmethod
  def _count_decode_errors(state, element):
    """`scan` step: gaps in the numbering are undecodable images."""
    last_index, errors = state
    index, image, label = element
    errors = errors + index - last_index - 1
    skipped = errors * tf.one_hot(_DECODE_ERROR,
                                  len(input_reader.SKIP_REASONS),
                                  dtype=tf.int64)
    return (index, errors), {"image": image, "label": label,
                             "skipped_records": skipped}

  def _normalize_batch(self, batch):
    # After `ignore_errors`, which would otherwise drop (not report) it.
    checks = []
    if self.num_classes is not None:
      checks = [
          tf.debugging.assert_less(
              batch["label"], tf.constant(self.num_classes, tf.int32),
              message=f"label out of range [0, {self.num_classes}) in "
              f"{self._source}"),
          tf.debugging.assert_non_negative(
              batch["label"], message=f"negative label in {self._source}")]
    with tf.control_dependencies(checks):
      labels = tf.identity(batch["label"])
    return {"image": image_preprocessing.normalize(batch["image"],
                                                   self._pixel_range),
            "label": labels,
            "skipped_records": tf.reduce_max(batch["skipped_records"],
                                             axis=0)}

  def __call__(self, input_context: Optional[tf.distribute.InputContext] = None
               ) -> tf.data.Dataset:
    batch_size = self._global_batch_size
    if input_context is not None:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    ds = self._records(input_context).enumerate()
    ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.ignore_errors()
    ds = ds.scan((tf.constant(-1, tf.int64), tf.constant(0, tf.int64)),
                 self._count_decode_errors)
    ds = ds.batch(batch_size, drop_remainder=self._drop_remainder)
    ds = ds.map(self._normalize_batch, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=self._deterministic)
    options = tf.data.Options()
    options.deterministic = self._deterministic
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
