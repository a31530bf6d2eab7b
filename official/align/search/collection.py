# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The images to index: image files or img2dataset shards, read in batches.

`read_collection(spec, fmt)` yields `(ids, encoded_images)` batches from

  * "files":      a glob (or comma-separated globs) of image files; the id is
                  the path.
  * "tfrecord":   img2dataset TFRecord shards (`shard_format`); the id is
                  the record's `key` feature (or `shard:record` if empty).
  * "webdataset": img2dataset tar shards (`input_reader.iterate_webdataset_tar`).
  * "auto":       "tfrecord"/"webdataset" when every matched file ends in
                  `.tfrecord*`/`.tar`, else "files".

Records and files that cannot be an image (missing image feature, empty
bytes, unknown format, zero width/height in the header) are skipped and
counted per reason in the `SkipCounter` passed in; images that fail to decode
are counted by the caller (`search_lib.embed_collection`).
"""
import collections
import os
from typing import Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from official.align.dataloaders import image_preprocessing
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format

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


def _image_problem(image: bytes) -> Optional[str]:
  """The skip reason of encoded image bytes that cannot be an image, or None."""
  if not image:
    return "zero_size_image"
  if image.startswith(image_preprocessing.JPEG_MAGIC):
    return None  # JPEG headers are checked by decoding.
  if not bool(image_preprocessing.is_supported_format(tf.constant(image))):
    return "unknown_image_format"
  if bool(image_preprocessing.header_has_zero_size(tf.constant(image))):
    return "zero_size_image"
  return None


def _parse_records(records, name: str, skipped: SkipCounter,
                   keys: shard_format.FeatureKeys) -> Iterator[Tuple[str, bytes]]:
  """(id, image bytes) of serialized `tf.train.Example`s of one shard."""
  for number, serialized in enumerate(records):
    try:
      example = tf.train.Example.FromString(serialized)
    except Exception:  # pylint: disable=broad-except  (protobuf DecodeError)
      skipped["malformed_record"] += 1
      continue
    feature = example.features.feature
    # The first image feature present (img2dataset names it after the format).
    images = next((feature[k].bytes_list.value for k in keys.image_keys
                   if k in feature and feature[k].bytes_list.value), [])
    if not images:
      skipped["missing_feature"] += 1
      continue
    problem = _image_problem(images[0])
    if problem:
      skipped[problem] += 1
      continue
    key_values = (feature[keys.key].bytes_list.value
                  if keys.key in feature else [])
    key = key_values[0].decode("utf-8", "replace") if key_values else ""
    yield key or f"{name}:{number}", images[0]


def iterate_items(files: List[str], fmt: str, skipped: SkipCounter,
                  keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS
                  ) -> Iterator[Tuple[str, bytes]]:
  """(id, encoded image) for every usable item of `files` in format `fmt`."""
  for path in files:
    if fmt == "files":
      with tf.io.gfile.GFile(path, "rb") as f:
        image = f.read()
      problem = _image_problem(image)
      if problem:
        skipped[problem] += 1
        continue
      yield path, image
    elif fmt == "tfrecord":
      records = (r.numpy() for r in tf.data.TFRecordDataset(path))
      yield from _parse_records(records, path, skipped, keys)
    else:
      yield from _parse_records(
          input_reader.iterate_webdataset_tar(path, keys), path, skipped, keys)


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
                    keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS
                    ) -> Iterator[Batch]:
  """Batches `(ids, encoded images)` of the collection `spec` (module doc)."""
  files, fmt = list_collection(spec, fmt)
  skipped = SkipCounter() if skipped is None else skipped
  ids, images = [], []
  for item_id, image in iterate_items(files, fmt, skipped, keys):
    ids.append(item_id)
    images.append(image)
    if len(ids) == batch_size:
      yield ids, images
      ids, images = [], []
  if ids:
    yield ids, images


def skipped_total(skipped: SkipCounter) -> int:
  return int(np.sum(list(skipped.values()))) if skipped else 0
