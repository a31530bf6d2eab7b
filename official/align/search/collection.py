# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The images to index: image files or img2dataset shards, read in batches.

`read_collection(spec, fmt)` yields `(ids, encoded_images)` batches from

  * "files":      a glob (or comma-separated globs) of image files; the id is
                  the path.
  * "tfrecord":   img2dataset TFRecord shards (`shard_format`); the id is
                  the record's `key` feature (or `shard:record` if empty).
  * "webdataset": img2dataset tar shards (`webdataset_shards`).
  * "auto":       "tfrecord"/"webdataset" when every matched file ends in
                  `.tfrecord*`/`.tar`, else "files".

Records and files that cannot be an image (missing image feature, empty
bytes, unknown format, zero width/height in the header, more pixels declared
than `max_pixels`) are skipped and counted per reason in the `SkipCounter`
passed in; images that fail to decode are counted by the caller
(`search_lib.embed_collection`). Shards are read as the training reader
reads them (`shard_reading.shard_reader`): the records a damaged TFRecord
shard loses (from the damaged one on), a damaged tar, a vanished shard count
as `unreadable_shard`; an oversized tar member as `record_too_large`. A
storage error that persists raises `OSError` naming the shard.
"""
import collections
import os
from typing import Iterator, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from official.align.dataloaders import image_headers
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format
from official.align.dataloaders import shard_reading
from official.align.dataloaders import skip_counts
from official.align.dataloaders import tfrecord_shards
from official.align.dataloaders import webdataset_shards

COLLECTION_FORMATS = ("auto", "files", "tfrecord", "webdataset")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


Batch = Tuple[List[str], List[bytes]]


class SkipCounter(collections.Counter):
  """Items skipped, per reason (`input_reader.SKIP_REASONS` names)."""


def detect_format(files: List[str]) -> str:
  """"tfrecord", "webdataset" or "files" from the file names."""
  names = [os.path.basename(f).lower() for f in files]
  if all(".tfrecord" in n for n in names):
    return "tfrecord"
  if all(n.endswith((".tar", ".tar.gz")) for n in names):
    return "webdataset"
  return "files"


def _image_problem(image: bytes, max_pixels: int) -> Optional[str]:
  """The skip reason of encoded image bytes that cannot be an image, or None."""
  if not image:
    return "zero_size_image"
  encoded = tf.constant(image)
  if not image.startswith(image_headers.JPEG_MAGIC):
    if not bool(image_headers.is_supported_format(encoded)):
      return "unknown_image_format"
    if bool(image_headers.header_has_zero_size(encoded)):
      return "zero_size_image"
  dimensions = image_headers.declared_dimensions(encoded, max_pixels)
  if int(image_headers.decoded_pixels(dimensions)) > max_pixels:
    return "image_too_large"
  return None


def _parse_record(serialized: bytes, reason: int, detail: bytes, count: int,
                  item_id: str, skipped: SkipCounter,
                  keys: shard_format.FeatureKeys, max_pixels: int
                  ) -> Optional[Tuple[str, bytes]]:
  """(id, image bytes) of a `(record, reason, detail, count)`, or None.

  `item_id` is used if the record has no key.
  """
  if reason == webdataset_shards.FATAL:
    raise OSError(f"Cannot read {detail.decode('utf-8', 'replace')}")
  if reason >= 0:
    if count:
      skipped[skip_counts.SKIP_REASONS[reason]] += count
      logging.warning("Skipped %s.", detail.decode("utf-8", "replace"))
    return None
  try:
    example = tf.train.Example.FromString(serialized)
  except Exception:  # pylint: disable=broad-except  (protobuf DecodeError)
    skipped["malformed_record"] += 1
    return None
  feature = example.features.feature
  # The first image feature present (img2dataset names it after the format).
  images = next((feature[k].bytes_list.value for k in keys.image_keys
                 if k in feature and feature[k].bytes_list.value), [])
  if not images:
    skipped["missing_feature"] += 1
    return None
  problem = _image_problem(images[0], max_pixels)
  if problem:
    skipped[problem] += 1
    return None
  key_values = (feature[keys.key].bytes_list.value
                if keys.key in feature else [])
  key = key_values[0].decode("utf-8", "replace") if key_values else ""
  return key or item_id, images[0]


def iterate_items(files: List[str], fmt: str, skipped: SkipCounter,
                  keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
                  max_pixels: int = image_headers.DEFAULT_MAX_PIXELS
                  ) -> Iterator[Tuple[str, bytes]]:
  """(id, encoded image) for every usable item of `files` in format `fmt`."""
  if fmt == "files":
    for path in files:
      with tf.io.gfile.GFile(path, "rb") as f:
        image = f.read()
      problem = _image_problem(image, max_pixels)
      if problem:
        skipped[problem] += 1
        continue
      yield path, image
    return
  reader = shard_reading.shard_reader(fmt, keys)
  # One dataset over all files (traced once), each element tagged with its
  # file, so records without a key get the id "file:number".
  elements = tf.data.Dataset.from_tensor_slices(files).flat_map(
      lambda path: reader.read(path).map(
          lambda *element: (path,) + reader.interpret(element)))
  current, number = None, 0
  for path, serialized, reason, detail, count in (
      elements.as_numpy_iterator()):
    if path != current:
      current, number = path, 0
    if reason in (tfrecord_shards.LOST_PENDING,
                  tfrecord_shards.MISSING_PENDING):  # Count what was lost.
      reason, detail, count = (t.numpy()[0] for t in (
          tfrecord_shards.resolve_lost([reason], [detail], [count])))
    item = _parse_record(serialized, int(reason), detail, int(count),
                         f"{path.decode('utf-8')}:{number}", skipped, keys,
                         max_pixels)
    number += 1
    if item is not None:
      yield item


def list_collection(spec: str, fmt: str = "auto") -> Tuple[List[str], str]:
  """The files of a collection and its resolved format.

  Args:
    spec: glob, comma-separated globs, or a directory (all image files in
      it, recursively).
    fmt: one of `COLLECTION_FORMATS`.

  Returns:
    (sorted files, format).

  Raises:
    ValueError: unknown format, or nothing matches `spec`.
  """
  if fmt not in COLLECTION_FORMATS:
    raise ValueError(f"format must be one of {COLLECTION_FORMATS}, got "
                     f"{fmt!r}.")
  if tf.io.gfile.isdir(spec):
    files = sorted(os.path.join(root, name)
                   for root, _, names in tf.io.gfile.walk(spec)
                   for name in names
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
      raise ValueError(f"No image files ({', '.join(IMAGE_EXTENSIONS)}) "
                       f"under {spec}.")
  else:
    files = input_reader.list_shards(spec)
  if fmt == "auto":
    fmt = detect_format(files)
  return files, fmt


def read_collection(spec: str, fmt: str = "auto", batch_size: int = 64,
                    skipped: Optional[SkipCounter] = None,
                    keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
                    max_pixels: int = image_headers.DEFAULT_MAX_PIXELS
                    ) -> Iterator[Batch]:
  """Batches `(ids, encoded images)` of the collection `spec` (module doc)."""
  files, fmt = list_collection(spec, fmt)
  skipped = SkipCounter() if skipped is None else skipped
  ids, images = [], []
  for item_id, image in iterate_items(files, fmt, skipped, keys, max_pixels):
    ids.append(item_id)
    images.append(image)
    if len(ids) == batch_size:
      yield ids, images
      ids, images = [], []
  if ids:
    yield ids, images


def skipped_total(skipped: SkipCounter) -> int:
  return int(np.sum(list(skipped.values()))) if skipped else 0
