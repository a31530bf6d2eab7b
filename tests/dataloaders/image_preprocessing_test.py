# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of in-graph image decoding, cropping and flipping."""
import io

import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import image_headers
from official.align.dataloaders import image_preprocessing as ip


def _encode(array, fmt, mode=None):
  image = Image.fromarray(array)
  if mode:
    image = image.convert(mode)
  buf = io.BytesIO()
  image.save(buf, format=fmt)
  return buf.getvalue()


def _left_right_image(height=30, width=60):
  """Left half red, right half blue, uint8 [h, w, 3]."""
  a = np.zeros([height, width, 3], np.uint8)
  a[:, :width // 2, 0] = 255
  a[:, width // 2:, 2] = 255
  return a


class ImagePreprocessingTest(tf.test.TestCase):

  def test_formats_decode_to_rgb_at_static_size(self):
    a = _left_right_image()
    for fmt, mode in [("JPEG", None), ("PNG", None), ("GIF", None),
                      ("BMP", None), ("JPEG", "L"), ("JPEG", "CMYK"),
                      ("PNG", "RGBA"), ("PNG", "L")]:
      data = tf.constant(_encode(a, fmt, mode))
      self.assertTrue(image_headers.is_supported_format(data).numpy())
      out = ip.preprocess_image(data, is_training=False, resize_size=12,
                                crop_size=10)
      self.assertEqual(out.shape, (10, 10, 3), (fmt, mode))
      self.assertEqual(out.dtype, tf.float32)
      out = out.numpy()
      self.assertGreaterEqual(out.min(), 0.0)
      self.assertLessEqual(out.max(), 1.0)
      if mode not in ("L",):
        # Central crop of a 30x60 image spans 25 px around the middle: red
        # on the left edge, blue on the right edge.
        self.assertGreater(out[5, 0, 0], 0.7, (fmt, mode))
        self.assertGreater(out[5, -1, 2], 0.7, (fmt, mode))
        self.assertLess(out[5, -1, 0], 0.3, (fmt, mode))
      else:
        self.assertAllClose(out[..., 0], out[..., 2], atol=0.02)

  def test_eval_matches_resize_then_central_crop(self):
    rng = np.random.default_rng(0)
    a = (rng.random([40, 80, 3]) * 255).astype(np.uint8)
    data = tf.constant(_encode(a, "PNG"))
    out = ip.preprocess_image(data, is_training=False, resize_size=40,
                              crop_size=40).numpy()
    # Resize 40 -> 40 is identity; central crop of width 80 starts at 20.
    self.assertAllClose(out, a[:, 20:60] / 255.0, atol=1e-5)

  def test_symmetric_range(self):
    a = np.zeros([16, 16, 3], np.uint8)
    a[..., 1] = 255
    out = ip.preprocess_image(tf.constant(_encode(a, "PNG")), False, 16, 16,
                              pixel_range="symmetric").numpy()
    self.assertAllClose(out[..., 0], -np.ones([16, 16]))
    self.assertAllClose(out[..., 1], np.ones([16, 16]))

  def test_training_crop_is_seeded_and_flips(self):
    a = _left_right_image(20, 20)
    data = tf.constant(_encode(a, "PNG"))
    outs = [ip.preprocess_image(data, True, 20, 20, seed=[0, i]).numpy()
            for i in range(16)]
    again = ip.preprocess_image(data, True, 20, 20, seed=[0, 3]).numpy()
    self.assertAllClose(outs[3], again)
    left_red = [o[10, 0, 0] > 0.5 for o in outs]
    # Some crops are flipped (blue on the left) and some are not.
    self.assertIn(True, left_red)
    self.assertIn(False, left_red)
    with self.assertRaises(ValueError):
      ip.preprocess_image(data, True, 20, 20)

  def test_random_crop_window_stays_inside(self):
    a = np.arange(50 * 30 * 3, dtype=np.int64).reshape([50, 30, 3]) % 251
    data = tf.constant(_encode(a.astype(np.uint8), "PNG"))
    for i in range(8):
      out = ip.preprocess_image(data, True, 30, 15, random_flip=False,
                                seed=[1, i])
      self.assertEqual(out.shape, (15, 15, 3))

  def test_undecodable_jpeg_bytes_raise(self):
    with self.assertRaises(tf.errors.InvalidArgumentError):
      ip.preprocess_image(tf.constant(b"\xff\xd8\xff\xe0garbage"), False, 8, 8)


if __name__ == "__main__":
  tf.test.main()
