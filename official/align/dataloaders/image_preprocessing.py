# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""In-graph image decoding and augmentation for ALIGN (paper §3 and §5).

Training: resize the shorter side to `resize_size` (346), take a random
`crop_size` x `crop_size` (289) crop, random horizontal flip.
Evaluation: resize the shorter side to `resize_size`, central crop.

Both are done as "crop the matching window of the original image, then resize
the window to `crop_size`": a `crop_size` crop of the resized image is a
`crop_size * short_side / resize_size` window of the original. For JPEG the
window is decoded with the fused `tf.image.decode_and_crop_jpeg` (only the
window's blocks are decoded) after reading the size from
`tf.image.extract_jpeg_shape`. PNG, GIF (first frame), BMP and WebP go
through `tf.image.decode_image`. Grayscale and CMYK JPEGs come out as RGB.

All functions work on one (unbatched) encoded image so they can run inside
`tf.data.Dataset.map`. Randomness is stateless: pass a `seed` int32 [2]
tensor (e.g. `[global_seed, record_index]`) and the result does not depend on
map parallelism.
"""
from typing import Optional, Tuple

import gin
import tensorflow as tf

from official.align.dataloaders import image_headers

PIXEL_RANGES = ("unit", "symmetric")  # [0, 1] or [-1, 1].


def crop_window(height: tf.Tensor, width: tf.Tensor, resize_size: int,
                crop_size: int, random: bool,
                seed: Optional[tf.Tensor]) -> Tuple[tf.Tensor, ...]:
  """Window (y, x, h, w) int32 of the original matching a crop of the resize.

  Args:
    height: int32 scalar, original height in pixels.
    width: int32 scalar, original width in pixels.
    resize_size: target length of the shorter side after resizing.
    crop_size: side of the square crop taken from the resized image.
    random: random offset (training) or centred (evaluation).
    seed: int32 [2] stateless seed, used when `random`.

  Returns:
    Four int32 scalars: offset_y, offset_x, window_h, window_w.
  """
  short = tf.cast(tf.minimum(height, width), tf.float32)
  side = tf.cast(tf.round(short * (crop_size / resize_size)), tf.int32)
  side = tf.clip_by_value(side, 1, tf.minimum(height, width))
  max_y = height - side
  max_x = width - side
  if random:
    u = tf.random.stateless_uniform([2], seed=seed, dtype=tf.float32)
    off_y = tf.cast(tf.floor(u[0] * tf.cast(max_y + 1, tf.float32)), tf.int32)
    off_x = tf.cast(tf.floor(u[1] * tf.cast(max_x + 1, tf.float32)), tf.int32)
    off_y = tf.minimum(off_y, max_y)
    off_x = tf.minimum(off_x, max_x)
  else:
    off_y = max_y // 2
    off_x = max_x // 2
  return off_y, off_x, side, side


def _decode_window(image_bytes, resize_size, crop_size, random, seed,
                   max_pixels=None, headers_checked=False):
  """Decodes the crop window; uint8 [h, w, 3]."""

  def jpeg():
    shape = tf.image.extract_jpeg_shape(image_bytes, output_type=tf.int32)
    y, x, h, w = crop_window(shape[0], shape[1], resize_size, crop_size,
                             random, seed)
    checks = []
    if max_pixels is not None and headers_checked:
      # A constant message: this runs for every record of the reader.
      checks = [tf.debugging.Assert(
          tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64) <=
          max_pixels, [f"image_too_large: a JPEG whose frame header the "
                       f"batched check could not find declares more than "
                       f"max_pixels = {max_pixels}"])]
    elif max_pixels is not None:
      checks = [image_headers.check_pixels(
          tf.concat([tf.cast(shape[:2], tf.int64), [1]], 0), max_pixels)]
    with tf.control_dependencies(checks):
      # Training: libjpeg's fast integer IDCT (a few % cheaper; differences
      # are far below the augmentation noise). Evaluation: the default,
      # accurate IDCT, so eval images match a reference decoder.
      return tf.image.decode_and_crop_jpeg(
          image_bytes, tf.stack([y, x, h, w]), channels=3,
          dct_method="INTEGER_FAST" if random else "")

  def other():
    checks = []
    if max_pixels is not None and not headers_checked:
      checks = [image_headers.check_pixels(
          image_headers.declared_dimensions(image_bytes, max_pixels),
          max_pixels)]
    with tf.control_dependencies(checks):
      image = tf.image.decode_image(image_bytes, channels=3,
                                    expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    shape = tf.shape(image)
    y, x, h, w = crop_window(shape[0], shape[1], resize_size, crop_size,
                             random, seed)
    return tf.image.crop_to_bounding_box(image, y, x, h, w)

  return tf.cond(image_headers.is_jpeg(image_bytes), jpeg, other)


def to_pixel_range(image: tf.Tensor, pixel_range: str) -> tf.Tensor:
  image = image / 255.0
  if pixel_range == "symmetric":
    image = image * 2.0 - 1.0
  elif pixel_range != "unit":
    raise ValueError(f"pixel_range must be one of {PIXEL_RANGES}, "
                     f"got {pixel_range!r}")
  return image


def decode_crop_resize(image_bytes: tf.Tensor,
                       is_training: bool,
                       resize_size: int = 346,
                       crop_size: int = 289,
                       random_flip: bool = True,
                       seed: Optional[tf.Tensor] = None,
                       max_pixels: Optional[int] = None,
                       headers_checked: bool = False) -> tf.Tensor:
  """Decodes, crops, resizes (bilinear) and flips one image; uint8 output.

  The bilinear resize is rounded to 8 bits (as an image library would), so
  the large per-example tensors stay small until `normalize` (which can then
  run on whole batches).

  Args:
    image_bytes: string scalar; JPEG, PNG, GIF (first frame), BMP or WebP.
    is_training: random crop + flip if True, central crop otherwise.
    resize_size: shorter side after the (virtual) resize, pixels.
    crop_size: output side, pixels.
    random_flip: random horizontal flip (training only).
    seed: int32 [2] stateless seed; required when `is_training`.
    max_pixels: refuse, before decoding, an image whose header declares more
      pixels (times GIF frames) than this (`image_headers.check_pixels`;
      JPEG through `tf.image.extract_jpeg_shape`, which decoding calls
      anyway); None: no cap.
    headers_checked: the caller checked `image_headers.declared_dimensions`
      already (as the input reader does, on batches): only JPEGs are checked
      again, against the size libjpeg itself reads, at no cost.

  Returns:
    uint8 [crop_size, crop_size, 3], RGB.

  Raises:
    tf.errors.InvalidArgumentError at run time for undecodable bytes, or an
    image above `max_pixels`.
  """
  if is_training and seed is None:
    raise ValueError("A stateless `seed` is required when is_training.")
  if seed is not None:
    seed = tf.cast(seed, tf.int32)
    crop_seed = seed
    flip_seed = tf.random.experimental.stateless_fold_in(seed, 1)
  else:
    crop_seed = flip_seed = None
  window = _decode_window(image_bytes, resize_size, crop_size, is_training,
                          crop_seed, max_pixels, headers_checked)
  # Same result as resizing the uint8 window, but TF's float32 bilinear
  # kernel is ~1.7x faster than its uint8 one (~0.3 vs ~0.55 ms here).
  image = tf.image.resize(tf.cast(window, tf.float32), [crop_size, crop_size],
                          method=tf.image.ResizeMethod.BILINEAR,
                          antialias=False)
  # Bilinear weights are convex, so the rounded values are already in
  # [0, 255]: a plain cast equals `saturate_cast` without its clipping passes.
  image = tf.cast(tf.round(image), tf.uint8)
  if is_training and random_flip:
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
  image.set_shape([crop_size, crop_size, 3])
  return image


def normalize(image: tf.Tensor, pixel_range: str = "unit") -> tf.Tensor:
  """uint8 images [..., 3] -> float32 in [0, 1] ("unit") or [-1, 1]."""
  if pixel_range not in PIXEL_RANGES:
    raise ValueError(f"pixel_range must be one of {PIXEL_RANGES}, "
                     f"got {pixel_range!r}")
  return to_pixel_range(tf.cast(image, tf.float32), pixel_range)


@gin.configurable
def preprocess_image(image_bytes: tf.Tensor,
                     is_training: bool,
                     resize_size: int = 346,
                     crop_size: int = 289,
                     random_flip: bool = True,
                     pixel_range: str = "unit",
                     seed: Optional[tf.Tensor] = None,
                     max_pixels: Optional[int] = None) -> tf.Tensor:
  """Decodes and augments one encoded image (`decode_crop_resize`+`normalize`).

  Args:
    image_bytes: string scalar; JPEG, PNG, GIF (first frame), BMP or WebP.
    is_training: random crop + flip if True, central crop otherwise.
    resize_size: shorter side after the (virtual) resize, pixels.
    crop_size: output side, pixels.
    random_flip: random horizontal flip (training only).
    pixel_range: "unit" for [0, 1] or "symmetric" for [-1, 1].
    seed: int32 [2] stateless seed for the training randomness; required when
      `is_training`.
    max_pixels: refuse larger images before decoding (`decode_crop_resize`).

  Returns:
    float32 [crop_size, crop_size, 3], RGB in `pixel_range`.

  Raises:
    tf.errors.InvalidArgumentError at run time for undecodable bytes, or an
    image above `max_pixels`.
  """
  if pixel_range not in PIXEL_RANGES:
    raise ValueError(f"pixel_range must be one of {PIXEL_RANGES}, "
                     f"got {pixel_range!r}")
  image = decode_crop_resize(image_bytes, is_training, resize_size, crop_size,
                             random_flip, seed, max_pixels=max_pixels)
  return normalize(image, pixel_range)
