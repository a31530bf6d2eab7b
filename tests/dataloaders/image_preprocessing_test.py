# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of in-graph image decoding, cropping and flipping."""
import io

import numpy as np
from PIL import Image
import tensorflow as tf

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
      self.assertTrue(ip.is_supported_format(data).numpy())
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

  def test_header_checks(self):
    png = bytearray(_encode(np.zeros([4, 5, 3], np.uint8), "PNG"))
    self.assertFalse(ip.header_has_zero_size(tf.constant(bytes(png))).numpy())
    png[20:24] = b"\0\0\0\0"
    self.assertTrue(ip.header_has_zero_size(tf.constant(bytes(png))).numpy())
    self.assertTrue(ip.header_has_zero_size(tf.constant(b"")).numpy())
    self.assertFalse(ip.is_supported_format(tf.constant(b"RIFFxxxx")).numpy())
    with self.assertRaises(tf.errors.InvalidArgumentError):
      ip.preprocess_image(tf.constant(b"\xff\xd8\xff\xe0garbage"), False, 8, 8)

  def test_header_checks_on_a_batch_match_single_images(self):
    png = _encode(np.zeros([4, 5, 3], np.uint8), "PNG")
    zero_png = bytearray(png)
    zero_png[16:20] = b"\0\0\0\0"
    gif = _encode(np.zeros([4, 5, 3], np.uint8), "GIF")
    zero_gif = bytearray(gif)
    zero_gif[6:8] = b"\0\0"
    images = [png, bytes(zero_png), gif, bytes(zero_gif),
              _encode(np.zeros([4, 5, 3], np.uint8), "JPEG"),
              _encode(np.zeros([4, 5, 3], np.uint8), "BMP"), b"", b"BM",
              b"RIFFxxxxWEBP"]
    batch = tf.constant(images)
    for fn in (ip.header_has_zero_size, ip.is_supported_format):
      single = [bool(fn(tf.constant(x)).numpy()) for x in images]
      self.assertEqual(fn(batch).numpy().tolist(), single)
    self.assertEqual(
        ip.header_has_zero_size(batch).numpy().tolist(),
        [False, True, False, True, False, False, True, True, False])

  def test_header_dimensions_of_every_format(self):
    pixels = np.zeros([23, 37, 3], np.uint8)
    encoded = {fmt: _encode(pixels, fmt) for fmt in ("PNG", "GIF", "BMP")}
    for name, kwargs in (("vp8", dict(quality=80)),
                         ("vp8l", dict(lossless=True)),
                         ("vp8x", dict(quality=80, exif=b"Exif\0\0x"))):
      buf = io.BytesIO()
      Image.fromarray(pixels).save(buf, format="WEBP", **kwargs)
      encoded[name] = buf.getvalue()
    self.assertEqual(encoded["vp8x"][12:16], b"VP8X")
    top_down = bytearray(encoded["BMP"])
    top_down[22:26] = (-23).to_bytes(4, "little", signed=True)
    encoded["bmp_top_down"] = bytes(top_down)
    jpeg = _encode(pixels, "JPEG")
    names = list(encoded) + ["jpeg", "html", "empty"]
    batch = tf.constant(list(encoded.values()) + [jpeg, b"<html>", b""])
    self.assertEqual(
        dict(zip(names, ip.header_dimensions(batch).numpy().tolist())),
        dict({n: [23, 37] for n in encoded}, jpeg=[0, 0], html=[0, 0],
             empty=[0, 0]))
    self.assertEqual(
        ip.declared_dimensions(batch).numpy().tolist(),
        [[23, 37, 1]] * (len(encoded) + 1) + [[0, 0, 1]] * 2)
    self.assertAllEqual(ip.declared_dimensions(jpeg), [23, 37, 1])

  def test_jpeg_segments_are_walked_to_the_frame_header(self):
    pixels = np.zeros([23, 37, 3], np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", progressive=True,
                                 exif=b"Exif\0\0" + b"x" * 3000,
                                 icc_profile=b"y" * 70000)
    big_headers = buf.getvalue()  # SOF2 after APP1 and APP2 segments.
    fill = b"\xff\xd8\xff" + _encode(pixels, "JPEG")[2:]  # A fill byte.
    junk = _encode(pixels, "JPEG")[:2] + b"junk" + _encode(pixels,
                                                            "JPEG")[2:]
    for data in (big_headers, fill):
      self.assertAllEqual(tf.image.extract_jpeg_shape(data)[:2], [23, 37])
    self.assertEqual(
        ip.jpeg_dimensions(tf.constant([big_headers, fill, junk, b"\xff\xd8",
                                        b"<html>"])).numpy().tolist(),
        [[23, 37], [23, 37], [0, 0], [0, 0], [0, 0]])

  def test_gif_frames_count_against_the_pixel_cap(self):
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8))
              .convert("P") for _ in range(7)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True,
                   append_images=frames[1:], duration=10)
    gif = buf.getvalue()
    one = _encode(np.zeros([40, 50, 3], np.uint8), "GIF")
    self.assertEqual(ip.gif_frame_counts(
        tf.constant([gif, one, gif[:len(gif) // 2], b"GIF89a", b"<html>"])
    ).numpy().tolist(), [7, 1, 4, 0, 0])
    self.assertAllEqual(ip.declared_dimensions(gif), [40, 50, 7])
    # Too small to matter for a large cap: not walked.
    self.assertAllEqual(ip.declared_dimensions(gif, 10**9), [40, 50, 1])
    self.assertEqual(int(ip.decoded_pixels(ip.declared_dimensions(gif))),
                     40 * 50 * 7)
    # 7 frames of 2000 pixels: 14000 decoded pixels.
    out = ip.decode_crop_resize(gif, False, 12, 10, max_pixels=14000)
    self.assertEqual(out.shape, (10, 10, 3))
    with self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r"image_too_large: the image declares 50 x 40 pixels \(7 frames\), "
        r"above max_pixels = 13999"):
      ip.decode_crop_resize(gif, False, 12, 10, max_pixels=13999)


if __name__ == "__main__":
  tf.test.main()
