# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""`Embedder`: batched image and text embeddings through three encoders.

An `Embedder` wraps the encode functions of a model (built by
`inference.loaders.from_hub_dir` / `from_model_dir`):

  texts = embedder.embed_texts(["a red circle", "a blue square"])
  images = embedder.embed_image_files(["cat.jpg", "dog.png"])
  pixels = embedder.embed_images(np.zeros([4, 96, 128, 3], np.float32))

All return float32 NumPy `[n, dim]` with unit L2 norm. Image files are
decoded, resized and centre-cropped as in evaluation (the `image_bytes`
signature); pixel arrays go through the same geometry (`serving_default`).
"""
import dataclasses
import os
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
import tf_keras

from official.align.inference import image_files
from official.align.inference import queries

DEFAULT_BATCH_SIZE = 64

# str [batch] / float32 [batch, H, W, 3] → float32 [batch, dim].
EncodeFn = Callable[[tf.Tensor], tf.Tensor]


def _as_unit_float_images(images) -> np.ndarray:
  """uint8 [0, 255] or float [0, 1] images [n, H, W, 3] → float32 [0, 1]."""
  images = np.asarray(images)
  if images.ndim == 3:
    raise ValueError("Images must be a batch [n, height, width, 3]; got one "
                     f"image of shape {images.shape} (add a batch axis).")
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError("Images must be [n, height, width, 3] RGB, got shape "
                     f"{images.shape}.")
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 255.0
  return images.astype(np.float32)


@dataclasses.dataclass
class Embedder:
  """Embeds texts and images in batches.

  Attributes:
    encode_texts: tf.string [batch] → float32 [batch, dim].
    encode_images: float32 [batch, H, W, 3] in [0, 1] → float32 [batch, dim].
    encode_image_bytes: tf.string [batch] of encoded JPEG/PNG/GIF/BMP →
      float32 [batch, dim].
    logit_scale: 1 / temperature of the trained model (logits = cosine ×
      logit_scale), or None if the source does not record it.
    source: where the encoders came from (for messages).
    batch_size: default items per encoder call.
    progress: show a progress bar (`tf_keras.utils.Progbar`) by default.
    keep_alive: objects owning the encoders' variables.
  """
  encode_texts: EncodeFn
  encode_images: EncodeFn
  encode_image_bytes: EncodeFn
  logit_scale: Optional[float] = None
  source: str = ""
  batch_size: int = DEFAULT_BATCH_SIZE
  progress: bool = False
  keep_alive: tuple = dataclasses.field(default=(), repr=False)
  _embed_dim: Optional[int] = dataclasses.field(default=None, repr=False)

  @property
  def temperature(self) -> Optional[float]:
    """The trained softmax temperature (1 / logit_scale), if known."""
    return None if self.logit_scale is None else 1.0 / self.logit_scale

  @property
  def embed_dim(self) -> int:
    """Size of the embeddings (one text is embedded to find it)."""
    if self._embed_dim is None:
      self._embed_dim = int(self.encode_texts(tf.constant([""])).shape[-1])
    return self._embed_dim

  def _run(self, fn: Callable[[Sequence], np.ndarray], items: Sequence,
           batch_size: Optional[int], progress: Optional[bool],
           what: str) -> np.ndarray:
    """Applies `fn` to batches of `items`; float32 [len(items), dim]."""
    batch_size = batch_size or self.batch_size
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(items)
    if n == 0:
      return np.zeros([0, self.embed_dim], np.float32)
    show = self.progress if progress is None else progress
    bar = tf_keras.utils.Progbar(n, unit_name=what) if show else None
    out = []
    for start in range(0, n, batch_size):
      batch = items[start:start + batch_size]
      out.append(np.asarray(fn(batch), np.float32))
      if bar is not None:
        bar.update(min(start + batch_size, n))
    embeddings = np.concatenate(out, axis=0)
    if self._embed_dim is None:
      self._embed_dim = embeddings.shape[-1]
    return queries.l2_normalize_rows(embeddings)

  def embed_texts(self, texts: Iterable[str],
                  batch_size: Optional[int] = None,
                  progress: Optional[bool] = None) -> np.ndarray:
    """float32 [len(texts), dim] unit-norm text embeddings.

    Args:
      texts: strings (UTF-8); empty strings are allowed (they embed
        `[CLS] [SEP]`).
      batch_size: texts per encoder call (default `self.batch_size`).
      progress: show a progress bar (default `self.progress`).
    """
    if isinstance(texts, (str, bytes)):
      raise TypeError("embed_texts takes a sequence of strings, not one "
                      f"string: {texts!r}")
    texts = list(texts)
    return self._run(
        lambda b: self.encode_texts(tf.constant(b, tf.string)), texts,
        batch_size, progress, "texts")

  def embed_images(self, images: Union[np.ndarray, Sequence[np.ndarray]],
                   batch_size: Optional[int] = None,
                   progress: Optional[bool] = None) -> np.ndarray:
    """float32 [n, dim] unit-norm embeddings of decoded images.

    Args:
      images: [n, H, W, 3] RGB, uint8 in [0, 255] or float in [0, 1]; or a
        list of [H_i, W_i, 3] arrays of different sizes (embedded one
        by one). Any size: the encoder resizes and centre-crops.
      batch_size: images per encoder call (default `self.batch_size`).
      progress: show a progress bar (default `self.progress`).
    """
    if isinstance(images, (list, tuple)):
      if len({np.shape(im) for im in images}) > 1:
        return self._run(
            lambda b: self.encode_images(
                tf.constant(_as_unit_float_images(b[0][None]))),
            list(images), 1, progress, "images")
      images = np.stack(images) if images else np.zeros([0, 1, 1, 3])
    images = _as_unit_float_images(images)
    return self._run(lambda b: self.encode_images(tf.constant(b)), images,
                     batch_size, progress, "images")

  def embed_image_bytes(self, encoded: Sequence[bytes],
                        batch_size: Optional[int] = None,
                        progress: Optional[bool] = None,
                        names: Optional[Sequence[str]] = None) -> np.ndarray:
    """float32 [n, dim] unit-norm embeddings of encoded images.

    Args:
      encoded: JPEG/PNG/GIF/BMP bytes.
      batch_size: images per encoder call (default `self.batch_size`).
      progress: show a progress bar (default `self.progress`).
      names: one name per image (e.g. its path), used in error messages.

    Raises:
      ValueError: an image cannot be decoded (naming it).
    """
    encoded = list(encoded)
    names = list(names) if names is not None else [
        f"image #{i}" for i in range(len(encoded))]
    if len(names) != len(encoded):
      raise ValueError("names needs one name per image.")

    def encode(batch):
      data = [b for _, b in batch]
      try:
        return self.encode_image_bytes(tf.constant(data, tf.string))
      except tf.errors.InvalidArgumentError:
        # Find the culprit so the message can name it.
        for name, item in batch:
          try:
            self.encode_image_bytes(tf.constant([item], tf.string))
          except tf.errors.InvalidArgumentError as e:
            raise ValueError(f"Cannot decode {name}: not a valid "
                             "JPEG/PNG/GIF/BMP image.") from e
        raise

    return self._run(encode, list(zip(names, encoded)), batch_size, progress,
                     "images")

  def embed_decodable_image_bytes(
      self, encoded: Sequence[bytes], batch_size: Optional[int] = None,
      progress: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Like `embed_image_bytes`, but skips images that cannot be decoded.

    For bulk evaluation, where a damaged file is counted, not fatal.

    Returns:
      (float32 [num_kept, dim] embeddings, bool [n] kept mask).
    """
    encoded = list(encoded)
    kept = np.ones(len(encoded), bool)
    offset = [0]

    def encode(batch):
      start = offset[0]
      offset[0] += len(batch)
      try:
        return self.encode_image_bytes(tf.constant(batch, tf.string))
      except tf.errors.InvalidArgumentError:
        rows = []
        for i, item in enumerate(batch):
          try:
            rows.append(self.encode_image_bytes(
                tf.constant([item], tf.string)))
          except tf.errors.InvalidArgumentError:
            kept[start + i] = False
        return (np.concatenate(rows, axis=0) if rows else
                np.zeros([0, self.embed_dim], np.float32))

    return self._run(encode, encoded, batch_size, progress, "images"), kept

  def embed_image_files(self, paths: Sequence[str],
                        batch_size: Optional[int] = None,
                        progress: Optional[bool] = None) -> np.ndarray:
    """float32 [len(paths), dim] unit-norm embeddings of image files.

    Files are read batch by batch (not all at once).

    Raises:
      FileNotFoundError: a file is missing (naming it; checked up front).
      ValueError: a file cannot be decoded (naming it).
    """
    if isinstance(paths, str):
      raise TypeError(f"embed_image_files takes a list of paths, not one "
                      f"path: {paths!r}")
    paths = [os.fspath(p) for p in paths]
    image_files.check_exist(paths)

    def encode(batch_paths: List[str]):
      return self.embed_image_bytes(
          [image_files.read_image_file(p) for p in batch_paths], batch_size=len(
              batch_paths), progress=False, names=batch_paths)

    return self._run(encode, paths, batch_size, progress, "images")
