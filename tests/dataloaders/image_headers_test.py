# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of reading formats and declared sizes from image headers."""
import io

import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import image_headers as headers
from official.align.dataloaders import image_preprocessing


def _encode(array, fmt):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format=fmt)
  return buf.getvalue()


class ImageHeadersTest(tf.test.TestCase):

  def test_header_checks(self):
    png = bytearray(_encode(np.zeros([4, 5, 3], np.uint8), "PNG"))
    zero_size = lambda data: bool(headers.header_has_zero_size(
        tf.constant(bytes(data))).numpy())
    self.assertFalse(zero_size(png))
    png[20:24] = b"\0\0\0\0"
    self.assertTrue(zero_size(png))
    self.assertTrue(zero_size(b""))
    self.assertFalse(
        headers.is_supported_format(tf.constant(b"RIFFxxxx")).numpy())

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
    for fn in (headers.header_has_zero_size, headers.is_supported_format):
      single = [bool(fn(tf.constant(x)).numpy()) for x in images]
      self.assertEqual(fn(batch).numpy().tolist(), single)
    self.assertEqual(
        headers.header_has_zero_size(batch).numpy().tolist(),
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
        dict(zip(names, headers.header_dimensions(batch).numpy().tolist())),
        dict({n: [23, 37] for n in encoded}, jpeg=[0, 0], html=[0, 0],
             empty=[0, 0]))
    self.assertEqual(
        headers.declared_dimensions(batch).numpy().tolist(),
        [[23, 37, 1]] * (len(encoded) + 1) + [[0, 0, 1]] * 2)
    self.assertAllEqual(headers.declared_dimensions(jpeg), [23, 37, 1])

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
        headers.jpeg_dimensions(tf.constant(
            [big_headers, fill, junk, b"\xff\xd8", b"<html>"])
        ).numpy().tolist(),
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
    self.assertEqual(headers.gif_frame_counts(
        tf.constant([gif, one, gif[:len(gif) // 2], b"GIF89a", b"<html>"])
    ).numpy().tolist(), [7, 1, 4, 0, 0])
    self.assertAllEqual(headers.declared_dimensions(gif), [40, 50, 7])
    # Too small to matter for a large cap: not walked.
    self.assertAllEqual(headers.declared_dimensions(gif, 10**9), [40, 50, 1])
    self.assertEqual(
        int(headers.decoded_pixels(headers.declared_dimensions(gif))),
        40 * 50 * 7)
    # 7 frames of 2000 pixels: 14000 decoded pixels.
    out = image_preprocessing.decode_crop_resize(gif, False, 12, 10,
                                                 max_pixels=14000)
    self.assertEqual(out.shape, (10, 10, 3))
    with self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r"image_too_large: the image declares 50 x 40 pixels \(7 frames\), "
        r"above max_pixels = 13999"):
      image_preprocessing.decode_crop_resize(gif, False, 12, 10,
                                             max_pixels=13999)


if __name__ == "__main__":
  tf.test.main()
