# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The img2dataset TFRecord record format: one `tf.train.Example` per pair.

img2dataset (`--output_format tfrecord`) writes bytes features `jpg` (the
encoded image; named after `--encode_format`, so also `png` or `webp`), `txt`
(caption, UTF-8), `key`, and metadata such as `width`, `height`, `exif`,
`url`, `status`. The metadata's types vary: with `--disable_all_reencoding`
img2dataset writes `width`/`height` as empty bytes, not int64, so readers
never depend on it. Every reader and writer in this project goes through
these names; readers take them as arguments so other corpora's keys can be
used.
"""
import dataclasses
from typing import Tuple

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class FeatureKeys:
  """Names of the features of one image/alt-text record."""
  image: str = "jpg"
  # Other image feature names tried, in order, when `image` is absent.
  image_alternatives: Tuple[str, ...] = ("png", "webp", "jpeg", "gif", "bmp")
  text: str = "txt"
  key: str = "key"
  width: str = "width"
  height: str = "height"

  @property
  def image_keys(self) -> Tuple[str, ...]:
    """`image`, then the alternatives (the first present holds the image)."""
    return (self.image,) + tuple(
        k for k in self.image_alternatives if k != self.image)


DEFAULT_KEYS = FeatureKeys()


def _bytes(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def make_example(key: str,
                 image_bytes: bytes | None,
                 caption: bytes | str | None,
                 width: int | None = None,
                 height: int | None = None,
                 keys: FeatureKeys = DEFAULT_KEYS) -> tf.train.Example:
  """Builds one record; a `None` field is left out (as in damaged shards)."""
  feature = {keys.key: _bytes(key.encode("utf-8"))}
  if image_bytes is not None:
    feature[keys.image] = _bytes(image_bytes)
  if caption is not None:
    feature[keys.text] = _bytes(
        caption.encode("utf-8") if isinstance(caption, str) else caption)
  if width is not None:
    feature[keys.width] = _int64(width)
  if height is not None:
    feature[keys.height] = _int64(height)
  return tf.train.Example(features=tf.train.Features(feature=feature))
