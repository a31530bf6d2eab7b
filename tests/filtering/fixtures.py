"""Tiny images and TFRecord shards for the filtering tests."""
import io
import zlib

import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import shard_format


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array.astype(np.uint8)).save(buffer, format=fmt, **kwargs)
  return buffer.getvalue()


def noise_image(seed: int, size: int = 16) -> bytes:
  """A JPEG of 8x8 random blocks, upscaled: unique bytes and dHash per seed."""
  blocks = np.random.default_rng(seed).integers(0, 256, (8, 8, 3))
  image = Image.fromarray(blocks.astype(np.uint8)).resize(
      (size, size), Image.Resampling.NEAREST)
  return encode(np.asarray(image))


def wave_pixels(size: int, phase: float) -> np.ndarray:
  """A smooth grayscale pattern; different phases hash far apart."""
  y, x = np.mgrid[0:size, 0:size] / size
  return 127 + 120 * np.sin(9 * x + phase) * np.cos(7 * y - phase)


def resized_copy(pixels: np.ndarray, size: int, quality: int) -> bytes:
  """A JPEG of `pixels` resized to `size`: an eval image's near-duplicate."""
  image = Image.fromarray(pixels.astype(np.uint8)).resize((size, size))
  return encode(np.asarray(image), quality=quality)


def example(key: str, image: bytes | None, text: str | None,
            width: int | None = None, height: int | None = None) -> bytes:
  return shard_format.make_example(key, image, text, width,
                                   height).SerializeToString()


def write_shard(path: str, records: list[bytes]) -> None:
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)


def read_shard(path: str) -> list[bytes]:
  return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def record_key(record: bytes) -> str:
  feature = tf.train.Example.FromString(record).features.feature
  return feature[shard_format.DEFAULT_KEYS.key].bytes_list.value[0].decode()


def png_bomb(side: int = 20000) -> bytes:
  """A valid 1-bit grayscale PNG of side x side pixels (~50 KB)."""
  row = b"\0" * (1 + (side + 7) // 8)  # Filter byte + packed pixels.
  compressor = zlib.compressobj(9)
  idat = b"".join(compressor.compress(row * 500) for _ in range(side // 500))
  idat += compressor.flush()

  def chunk(kind, body):
    return (len(body).to_bytes(4, "big") + kind + body +
            zlib.crc32(kind + body).to_bytes(4, "big"))

  header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
          chunk(b"IDAT", idat) + chunk(b"IEND", b""))
