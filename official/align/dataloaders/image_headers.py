# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""What an encoded image declares, read from its header without decoding.

Format sniffing (`is_supported_format`, `is_jpeg`), zero-size headers
(`header_has_zero_size`) and the (height, width, frames) a header declares
(`declared_dimensions`: PNG IHDR, GIF logical screen times its frames, BMP,
WebP VP8/VP8L/VP8X, the JPEG frame header found by walking its segments),
so that decompression bombs are refused before any pixel is allocated
(`check_pixels` against `max_pixels`).

Everything is in-graph and elementwise over a batch of strings, so the input
reader checks 64 records with one op instead of ~40 per record.
"""
from typing import Optional

import tensorflow as tf

# Leading bytes of the formats we decode.
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"
GIF_MAGIC = b"GIF8"
BMP_MAGIC = b"BM"
WEBP_MAGIC = (b"RIFF", b"WEBP")  # At offsets 0 and 8.

# Default cap on the pixels (times GIF frames) an image header may declare:
# 2**27 = 134 million, above 100-megapixel photos (e.g. 11648 x 8736), far
# below decompression bombs (a 48 KB PNG can declare 20000 x 20000).
DEFAULT_MAX_PIXELS = 2**27


def is_jpeg(image_bytes: tf.Tensor) -> tf.Tensor:
  """bool [...]: do the strings `image_bytes` [...] start like a JPEG?"""
  return tf.equal(tf.strings.substr(image_bytes, 0, 3), JPEG_MAGIC)


def is_supported_format(image_bytes: tf.Tensor) -> tf.Tensor:
  """bool [...]: JPEG, PNG, GIF, BMP or WebP magic bytes (elementwise)."""
  # The first 12 bytes, zero-padded (`substr` past the end would raise).
  head = tf.strings.join([tf.strings.substr(image_bytes, 0, 12), b"\0" * 12])
  webp = tf.logical_and(
      tf.equal(tf.strings.substr(head, 0, 4), WEBP_MAGIC[0]),
      tf.equal(tf.strings.substr(head, 8, 4), WEBP_MAGIC[1]))
  return tf.reduce_any(
      tf.stack([
          is_jpeg(image_bytes),
          tf.equal(tf.strings.substr(image_bytes, 0, 4), PNG_MAGIC),
          tf.equal(tf.strings.substr(image_bytes, 0, 4), GIF_MAGIC),
          tf.equal(tf.strings.substr(image_bytes, 0, 2), BMP_MAGIC),
          webp,
      ], axis=-1), axis=-1)


def header_has_zero_size(image_bytes: tf.Tensor) -> tf.Tensor:
  """bool [...]: a PNG/GIF/BMP header declaring a zero width or height.

  Cheap (no decoding): reads the size fields of the header. JPEG headers are
  not parsed here (a JPEG with a zero-sized frame fails to decode and is
  counted as a decode error).
  Empty strings count as zero-sized.

  Only the first `_HEADER_BYTES` bytes are looked at (zero-padded: short
  headers read as 0), as one uint8 vector per image; a size field is zero iff
  all its bytes are, so no integer decoding is needed.

  Args:
    image_bytes: string [...] (a scalar or a batch), encoded images.

  Returns:
    bool [...], elementwise.
  """
  empty = tf.equal(tf.strings.length(image_bytes), 0)
  head = tf.strings.join([tf.strings.substr(image_bytes, 0, _HEADER_BYTES),
                          b"\0" * _HEADER_BYTES])
  head = tf.io.decode_raw(tf.strings.substr(head, 0, _HEADER_BYTES),
                          tf.uint8)  # [..., _HEADER_BYTES]
  head.set_shape(image_bytes.shape.concatenate([_HEADER_BYTES]))
  # Per size field (PNG w/h big-endian u32 at 16/20, GIF w/h u16 at 6/8, BMP
  # w/h u32 at 18/22): is it zero, and is the file of that field's format.
  field_zero = tf.reduce_all(
      tf.equal(tf.gather(head, _SIZE_FIELD_BYTES, axis=-1), 0), axis=-1)
  magic = tf.equal(tf.gather(head, _MAGIC_BYTES, axis=-1), _MAGIC_VALUES)
  magic = tf.logical_or(magic, _MAGIC_WILDCARD)
  is_format = tf.reduce_all(magic, axis=-1)  # [..., (PNG, GIF, BMP)]
  field_format = tf.gather(is_format, [0, 0, 1, 1, 2, 2], axis=-1)
  return tf.logical_or(
      empty, tf.reduce_any(tf.logical_and(field_zero, field_format), axis=-1))


_HEADER_BYTES = 26
# Byte offsets of each size field, padded to 4 by repeating a byte (a
# repeated byte does not change "all bytes are zero").
_SIZE_FIELD_BYTES = [[16, 17, 18, 19], [20, 21, 22, 23],  # PNG width, height.
                     [6, 7, 7, 7], [8, 9, 9, 9],          # GIF width, height.
                     [18, 19, 20, 21], [22, 23, 24, 25]]  # BMP width, height.
_MAGIC_BYTES = [[0, 1, 2, 3]] * 3
_MAGIC_VALUES = [list(PNG_MAGIC), list(GIF_MAGIC), list(BMP_MAGIC) + [0, 0]]
_MAGIC_WILDCARD = [[False] * 4, [False] * 4, [False, False, True, True]]


# Image sizes from the headers (`header_dimensions`): per format, its height
# then width field: 4 byte offsets (little-endian weights 256**k; weight 0
# pads), then how the integer becomes pixels: ((v // div) % mod) + add, or a
# signed 32-bit magnitude (BMP).
_DIMENSION_BYTES = 30
_LE = [1, 1 << 8, 1 << 16, 1 << 24]
_BE = _LE[::-1]
_U16 = [1, 1 << 8, 0, 0]
_U24 = [1, 1 << 8, 1 << 16, 0]
_NO_MOD = 1 << 40
_HEADER_FORMATS = ("png", "gif", "bmp", "vp8", "vp8l", "vp8x")
# (offsets, weights, div, mod, add, signed) of height, then width.
_DIMENSION_FIELDS = (
    ([20, 21, 22, 23], _BE, 1, _NO_MOD, 0, False),  # PNG IHDR.
    ([16, 17, 18, 19], _BE, 1, _NO_MOD, 0, False),
    ([8, 9, 9, 9], _U16, 1, _NO_MOD, 0, False),  # GIF logical screen.
    ([6, 7, 7, 7], _U16, 1, _NO_MOD, 0, False),
    ([22, 23, 24, 25], _LE, 1, _NO_MOD, 0, True),  # BMP (height < 0: top-down).
    ([18, 19, 20, 21], _LE, 1, _NO_MOD, 0, True),
    ([28, 29, 29, 29], _U16, 1, 1 << 14, 0, False),  # VP8: 14 bits + scale.
    ([26, 27, 27, 27], _U16, 1, 1 << 14, 0, False),
    ([21, 22, 23, 24], _LE, 1 << 14, 1 << 14, 1, False),  # VP8L: w-1, h-1.
    ([21, 22, 23, 24], _LE, 1, 1 << 14, 1, False),
    ([27, 28, 29, 29], _U24, 1, _NO_MOD, 1, False),  # VP8X canvas - 1.
    ([24, 25, 26, 26], _U24, 1, _NO_MOD, 1, False),
)


def _head(image_bytes: tf.Tensor, count: int) -> tf.Tensor:
  """string [...]: the first `count` bytes, zero-padded (the image is not
  copied)."""
  return tf.strings.substr(tf.strings.join([
      tf.strings.substr(image_bytes, 0, count), b"\0" * count]), 0, count)


def header_dimensions(image_bytes: tf.Tensor) -> tf.Tensor:
  """int64 [..., 2]: (height, width) declared by a PNG/GIF/BMP/WebP header.

  Reads fixed header fields only (PNG IHDR, GIF logical screen, BMP
  BITMAPINFOHEADER with a signed height, WebP VP8/VP8L/VP8X canvas), so it
  costs nothing like decoding; elementwise over a batch. JPEG (whose size
  sits in a frame header at no fixed offset; see `jpeg_dimensions`) and
  unknown formats give (0, 0).

  Args:
    image_bytes: string [...], encoded images.

  Returns:
    int64 [..., 2], pixels.
  """
  head = _head(image_bytes, _DIMENSION_BYTES)
  head = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)  # [..., bytes]
  offsets, weights, div, mod, add, signed = zip(*_DIMENSION_FIELDS)
  fields = tf.reduce_sum(
      tf.gather(head, offsets, axis=-1) * tf.constant(weights, tf.int64),
      axis=-1)  # [..., 12]
  fields = tf.where(tf.logical_and(signed, fields >= 1 << 31),
                    tf.abs(fields - (1 << 32)), fields)
  fields = (fields // tf.constant(div, tf.int64)) % tf.constant(
      mod, tf.int64) + tf.constant(add, tf.int64)
  magic = _head(image_bytes, 16)
  riff = tf.logical_and(tf.equal(tf.strings.substr(magic, 0, 4), b"RIFF"),
                        tf.equal(tf.strings.substr(magic, 8, 4), b"WEBP"))
  webp_chunk = tf.strings.substr(magic, 12, 4)
  is_format = tf.stack([
      tf.equal(tf.strings.substr(magic, 0, 4), PNG_MAGIC),
      tf.equal(tf.strings.substr(magic, 0, 4), GIF_MAGIC),
      tf.equal(tf.strings.substr(magic, 0, 2), BMP_MAGIC),
      tf.logical_and(riff, tf.equal(webp_chunk, b"VP8 ")),
      tf.logical_and(riff, tf.equal(webp_chunk, b"VP8L")),
      tf.logical_and(riff, tf.equal(webp_chunk, b"VP8X")),
  ], axis=-1)  # [..., 6]
  # Each format's (height, width) where the magic matches, else 0.
  fields = tf.reshape(fields, tf.concat([tf.shape(fields)[:-1], [6, 2]], 0))
  return tf.reduce_sum(
      tf.where(is_format[..., None], fields, tf.zeros_like(fields)), axis=-2)


def _bytes_at(data: tf.Tensor, positions: tf.Tensor, count: int) -> tf.Tensor:
  """int64 [n, count]: data[i][positions[i]:][:count], zero past the end.

  Args:
    data: string [n].
    positions: int32 [n], >= 0.
    count: bytes per string.
  """
  positions = tf.minimum(tf.cast(positions, tf.int32),
                         tf.strings.length(data))
  window = tf.strings.join([
      tf.strings.substr(data, positions, tf.fill(tf.shape(positions), count)),
      b"\0" * count])
  raw = tf.io.decode_raw(tf.strings.substr(window, 0, count), tf.uint8)
  return tf.cast(tf.reshape(raw, [-1, count]), tf.int64)


def _like(new, old):
  """`new` tensors with the static shapes of `old` (loop variables)."""
  return tuple(tf.ensure_shape(n, o.shape) for n, o in zip(new, old))


# JPEG markers that start a frame (SOF0-15 but DHT, JPG, DAC): their segment
# holds the image's height and width.
_JPEG_FRAME_MARKERS = [m for m in range(0xC0, 0xD0)
                       if m not in (0xC4, 0xC8, 0xCC)]
# Markers without a length field (TEM, RST0-7, SOI).
_JPEG_STANDALONE_MARKERS = [0x01] + list(range(0xD0, 0xD9))
_MAX_JPEG_SEGMENTS = 64


def jpeg_dimensions(image_bytes: tf.Tensor) -> tf.Tensor:
  """int64 [n, 2]: (height, width) of JPEG frame headers, (0, 0) if not found.

  Walks the segments of each JPEG (marker, big-endian length, skip) from
  SOI to its frame header (SOFn), all strings at once: a loop of at most
  `_MAX_JPEG_SEGMENTS` steps, no decoding. Anything that breaks the walk
  (non-JPEG bytes, a start of scan or end of image before any frame
  header, bytes between segments) gives (0, 0): decoding reads the header
  itself (`tf.image.extract_jpeg_shape`) and checks it again.

  Args:
    image_bytes: string [n].
  """
  n = tf.shape(image_bytes)[0]
  found = tf.zeros([n, 2], tf.int64)
  done = tf.logical_not(is_jpeg(image_bytes))

  def step(position, found, done):
    loop_vars = (position, found, done)
    head = _bytes_at(image_bytes, position, 9)
    marker = head[:, 1]
    fill = tf.logical_and(tf.equal(head[:, 0], 0xFF), tf.equal(marker, 0xFF))
    valid = tf.equal(head[:, 0], 0xFF)
    frame = tf.reduce_any(tf.equal(marker[:, None], _JPEG_FRAME_MARKERS),
                          axis=1)
    standalone = tf.reduce_any(
        tf.equal(marker[:, None], _JPEG_STANDALONE_MARKERS), axis=1)
    length = head[:, 2] * 256 + head[:, 3]
    end = tf.logical_or(tf.equal(marker, 0xD9), tf.equal(marker, 0xDA))
    stop = tf.logical_or(tf.logical_not(valid),
                         tf.logical_or(frame, end))  # EOI, SOS.
    stop = tf.logical_and(stop, tf.logical_not(fill))
    stop = tf.logical_or(stop, tf.logical_and(
        tf.logical_not(fill), tf.logical_and(tf.logical_not(standalone),
                                             length < 2)))
    size = tf.stack([head[:, 5] * 256 + head[:, 6],
                     head[:, 7] * 256 + head[:, 8]], axis=1)
    take = tf.logical_and(tf.logical_not(done),
                          tf.logical_and(valid, frame))
    found = tf.where(take[:, None], size, found)
    one, two = tf.ones_like(length), 2 * tf.ones_like(length)
    advance = tf.cast(tf.where(fill, one, tf.where(standalone, two,
                                                   2 + length)), tf.int32)
    new_position = tf.where(tf.logical_or(done, stop), position,
                            position + advance)
    return _like((new_position, found, tf.logical_or(done, stop)),
                 loop_vars)

  _, found, _ = tf.while_loop(
      lambda position, found, done: tf.logical_not(tf.reduce_all(done)),
      step, (tf.fill([n], 2), found, done),
      maximum_iterations=_MAX_JPEG_SEGMENTS)
  return found


def gif_frame_counts(image_bytes: tf.Tensor) -> tf.Tensor:
  """int64 [n]: the image descriptors (frames) of GIFs (0 for other bytes).

  TensorFlow decodes every frame of a GIF onto a full logical-screen canvas
  (also with `expand_animations=False`), so its memory grows with the
  frames; this walks each GIF's blocks (a loop over its ~255-byte
  sub-blocks, all strings at once, no decoding) to count them. A walk stops
  at the trailer or at the first byte that is no block.

  Args:
    image_bytes: string [n].
  """
  n = tf.shape(image_bytes)[0]
  is_gif = tf.equal(_head(image_bytes, 4), GIF_MAGIC)
  packed = _bytes_at(image_bytes, tf.fill([n], 10), 1)[:, 0]
  # Header (6) + logical screen descriptor (7) + global colour table.
  start = 13 + tf.where(packed >= 128, 3 * 2 ** (packed % 8 + 1),
                        tf.zeros_like(packed))
  size = tf.cast(tf.strings.length(image_bytes), tf.int64)

  def step(position, frames, in_sub_blocks, done):
    head = _bytes_at(image_bytes, tf.cast(position, tf.int32), 10)
    byte = head[:, 0]
    # In a sub-block chain: skip a sub-block (its length byte first); a
    # zero length ends the chain. At a block: an extension (0x21, label,
    # sub-blocks) or an image descriptor (0x2C, 9 bytes, local colour
    # table, LZW code size, sub-blocks); anything else (0x3B) ends the walk.
    is_extension = tf.equal(byte, 0x21)
    is_image = tf.equal(byte, 0x2C)
    local_table = tf.where(head[:, 9] >= 128, 3 * 2 ** (head[:, 9] % 8 + 1),
                           tf.zeros_like(byte))
    block_next = tf.where(is_extension, position + 2,
                          position + 11 + local_table)
    at_block = tf.logical_not(in_sub_blocks)
    next_position = tf.where(in_sub_blocks, position + 1 + byte, block_next)
    new_frames = frames + tf.cast(tf.logical_and(at_block, is_image),
                                  tf.int64)
    new_in_sub = tf.where(in_sub_blocks, byte > 0,
                          tf.logical_or(is_extension, is_image))
    stop = tf.logical_or(
        tf.logical_and(at_block, tf.logical_not(
            tf.logical_or(is_extension, is_image))),
        next_position >= size)
    keep = lambda new, old: tf.where(done, old, new)
    return _like((keep(next_position, position), keep(new_frames, frames),
                  keep(new_in_sub, in_sub_blocks), tf.logical_or(done, stop)),
                 (position, frames, in_sub_blocks, done))

  _, frames, _, _ = tf.while_loop(
      lambda position, frames, in_sub_blocks, done: tf.logical_not(
          tf.reduce_all(done)),
      step, (start, tf.zeros([n], tf.int64), tf.zeros([n], tf.bool),
             tf.logical_or(tf.logical_not(is_gif), start >= size)))
  return frames


def declared_dimensions(image_bytes: tf.Tensor,
                        max_pixels: Optional[int] = None) -> tf.Tensor:
  """int64 [..., 3]: (height, width, frames) the encoded images declare.

  From the headers, before any decoding, elementwise: JPEG frame headers
  (`jpeg_dimensions`), PNG/GIF/BMP/WebP fixed fields (`header_dimensions`),
  GIF frames (`gif_frame_counts`; not counted for a GIF too small to hold
  frames enough to exceed `max_pixels`). (0, 0, 1) where unknown.

  Args:
    image_bytes: string [...].
    max_pixels: the budget the result is checked against, if known.
  """
  image_bytes = tf.convert_to_tensor(image_bytes, tf.string)
  shape = tf.shape(image_bytes)
  flat = tf.reshape(image_bytes, [-1])
  size = tf.where(is_jpeg(flat)[:, None], jpeg_dimensions(flat),
                  header_dimensions(flat))
  is_gif = tf.equal(_head(flat, 4), GIF_MAGIC)
  # A frame takes >= 13 bytes (descriptor, code size, one sub-block, end).
  max_frames = tf.cast(tf.strings.length(flat), tf.int64) // 13 + 1
  walk = is_gif
  if max_pixels is not None:
    walk = tf.logical_and(walk, size[:, 0] * size[:, 1] * max_frames >
                          max_pixels)
  ones = tf.ones_like(size[:, 0])
  frames = tf.cond(
      tf.reduce_any(walk),
      lambda: tf.where(walk, tf.maximum(gif_frame_counts(
          tf.where(walk, flat, tf.zeros_like(flat))), ones), ones),
      lambda: ones)
  dimensions = tf.concat([size, frames[:, None]], axis=1)
  return tf.reshape(dimensions, tf.concat([shape, [3]], 0))


def decoded_pixels(dimensions: tf.Tensor) -> tf.Tensor:
  """int64 [...]: pixels decoding allocates, from `declared_dimensions`."""
  return dimensions[..., 0] * dimensions[..., 1] * dimensions[..., 2]


def check_pixels(dimensions: tf.Tensor, max_pixels: int) -> tf.Operation:
  """An assertion that `declared_dimensions` fit in `max_pixels`.

  Fails (`tf.errors.InvalidArgumentError`) with e.g. "image_too_large: the
  image declares 20000 x 20000 pixels (1 frame), above max_pixels =
  134217728".
  """
  return tf.debugging.Assert(
      decoded_pixels(dimensions) <= max_pixels,
      [tf.strings.format(
          "image_too_large: the image declares {} x {} pixels ({} frames), "
          "above max_pixels = " + str(max_pixels),
          (dimensions[1], dimensions[0], dimensions[2]))])
