# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Batched image and text embeddings from an export or a checkpoint.

Every evaluation and search tool embeds through an `Embedder`, built either
from the TF-Hub export of `export/export_tfhub.py`

  embedder = embedders.from_hub_dir("runs/demo/export")

(`image_encoder/` and `text_encoder/` SavedModels, loaded without this
package's model code) or from a training `model_dir`

  embedder = embedders.from_model_dir("runs/demo/model")

which restores the checkpoint with `export_lib.restore_model` and wraps it in
the very functions the exporter saves (`image_module.build_image_module`,
`text_module.build_text_module`), so both paths preprocess identically.

  texts = embedder.embed_texts(["a red circle", "a blue square"])
  images = embedder.embed_image_files(["cat.jpg", "dog.png"])
  pixels = embedder.embed_images(np.zeros([4, 96, 128, 3], np.float32))

All return float32 NumPy `[n, dim]` with unit L2 norm. Image files are
decoded, resized and centre-cropped as in evaluation (the `image_bytes`
signature); pixel arrays go through the same geometry (`serving_default`).

Command-line tools define the model-selection flags once and load from them:

  embedders.define_model_flags()  # --hub_dir --model_dir --checkpoint ...
  flags.adopt_module_key_flags(embedders)  # List them in the tool's --help.
  ...
  embedder = embedders.from_flags()
"""
import dataclasses
import os
from typing import (Callable, Dict, Iterable, List, Optional, Sequence, Tuple,
                    Union)

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  pylint: disable=unused-import
import tf_keras

from official.align.evaluation import queries

# Re-exported: the search tools import the query arithmetic from here too.
combine_queries = queries.combine_queries
l2_normalize_rows = queries.l2_normalize_rows

IMAGE_MODULE = "image_encoder"
TEXT_MODULE = "text_encoder"
DEFAULT_BATCH_SIZE = 64
# The flags (and `load` arguments) that say which model to load.
MODEL_SOURCE_FLAGS = ("hub_dir", "model_dir", "checkpoint")
GIN_BINDINGS_HELP = ("Bindings after the operative config (--model_dir "
                     "only)")

# str [batch] / float32 [batch, H, W, 3] → float32 [batch, dim].
EncodeFn = Callable[[tf.Tensor], tf.Tensor]


def read_image_file(path: str) -> bytes:
  """The encoded bytes of one image file (local path or any tf.io.gfile URL).

  Raises:
    FileNotFoundError: naming `path`.
  """
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"Image file not found: {path}")
  with tf.io.gfile.GFile(path, "rb") as f:
    return f.read()


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
    return l2_normalize_rows(embeddings)

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
    missing = [p for p in paths if not tf.io.gfile.exists(p)]
    if missing:
      more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
      raise FileNotFoundError(f"Image file not found: {missing[0]}{more}")

    def encode(batch_paths: List[str]):
      return self.embed_image_bytes(
          [read_image_file(p) for p in batch_paths], batch_size=len(
              batch_paths), progress=False, names=batch_paths)

    return self._run(encode, paths, batch_size, progress, "images")


def _check_saved_model(path: str):
  if not (tf.io.gfile.isdir(path) and
          tf.saved_model.contains_saved_model(path)):
    raise FileNotFoundError(
        f"No SavedModel at {path} (expected the output of "
        "export/export_tfhub.py).")


def from_hub_dir(hub_dir: str, batch_size: int = DEFAULT_BATCH_SIZE,
                 progress: bool = False) -> Embedder:
  """An `Embedder` on an export of `export/export_tfhub.py`.

  Args:
    hub_dir: the export directory (with `image_encoder/` and
      `text_encoder/`).
    batch_size: default items per encoder call.
    progress: show progress bars by default.

  Raises:
    FileNotFoundError: `hub_dir` or one of its modules is missing.
  """
  hub_dir = os.fspath(hub_dir)
  if not tf.io.gfile.isdir(hub_dir):
    raise FileNotFoundError(f"Export directory not found: {hub_dir}")
  image_dir = os.path.join(hub_dir, IMAGE_MODULE)
  text_dir = os.path.join(hub_dir, TEXT_MODULE)
  _check_saved_model(image_dir)
  _check_saved_model(text_dir)
  image_module = tf.saved_model.load(image_dir)
  text_module = tf.saved_model.load(text_dir)
  images_fn = image_module.signatures["serving_default"]
  bytes_fn = image_module.signatures["image_bytes"]
  text_fn = text_module.signatures["serving_default"]
  logit_scale = None
  if "logit_scale" in text_module.signatures:
    logit_scale = float(
        text_module.signatures["logit_scale"]()["logit_scale"].numpy())
  embedder = Embedder(
      encode_texts=lambda t: text_fn(text=t)["embeddings"],
      encode_images=lambda x: images_fn(images=x)["embeddings"],
      encode_image_bytes=lambda b: bytes_fn(image_bytes=b)["embeddings"],
      logit_scale=logit_scale, source=hub_dir, batch_size=batch_size,
      progress=progress, keep_alive=(image_module, text_module))
  logging.info("Loaded the TF-Hub encoders from %s", hub_dir)
  return embedder


def from_model_dir(model_dir: str, checkpoint: Optional[str] = None,
                   gin_bindings: Sequence[str] = (),
                   batch_size: int = DEFAULT_BATCH_SIZE,
                   progress: bool = False) -> Embedder:
  """An `Embedder` on a training `model_dir` (latest or given checkpoint).

  Replaces the global gin config with the model's operative config (see
  `export_lib.restore_model`).

  Args:
    model_dir: a `train_lib.train` model_dir.
    checkpoint: checkpoint prefix; default: the latest.
    gin_bindings: extra bindings (e.g. a moved `TrainConfig.vocab_file`).
    batch_size: default items per encoder call.
    progress: show progress bars by default.

  Raises:
    FileNotFoundError: no model_dir, operative config or checkpoint.
  """
  # Imported here: building the model needs the training code, the hub
  # path does not.
  from official.align.serving import export_lib  # pylint: disable=g-import-not-at-top
  from official.align.serving import image_module  # pylint: disable=g-import-not-at-top
  from official.align.serving import text_module  # pylint: disable=g-import-not-at-top
  model_dir = os.fspath(model_dir)
  if not tf.io.gfile.isdir(model_dir):
    raise FileNotFoundError(f"Model directory not found: {model_dir}")
  model, config, checkpoint = export_lib.restore_model(
      model_dir, checkpoint, gin_bindings)
  if not isinstance(config.vocab_file, str) or not tf.io.gfile.exists(
      config.vocab_file):
    raise FileNotFoundError(
        f"The vocabulary of {model_dir} ({config.vocab_file}) is not there; "
        "pass gin_bindings=[\"TrainConfig.vocab_file = '/path/vocab.txt'\"].")
  _, image_signatures = image_module.build_image_module(
      model.image_encoder, model.temperature, config.resize_size,
      config.image_size, config.pixel_range)
  text, text_signatures = text_module.build_text_module(
      model.text_encoder, model.temperature, config.vocab_file,
      config.seq_length, config.lower_case)
  images_fn = image_signatures["serving_default"]
  bytes_fn = image_signatures["image_bytes"]
  text_fn = text_signatures["serving_default"]
  embedder = Embedder(
      encode_texts=lambda t: text_fn(text=t)["embeddings"],
      encode_images=lambda x: images_fn(images=x)["embeddings"],
      encode_image_bytes=lambda b: bytes_fn(image_bytes=b)["embeddings"],
      logit_scale=float(text_signatures["logit_scale"]()["logit_scale"]),
      source=checkpoint, batch_size=batch_size, progress=progress,
      keep_alive=(model, text))
  logging.info("Restored %s", checkpoint)
  return embedder


def load(hub_dir: Optional[str] = None, model_dir: Optional[str] = None,
         checkpoint: Optional[str] = None, gin_bindings: Sequence[str] = (),
         batch_size: int = DEFAULT_BATCH_SIZE,
         progress: bool = False) -> Embedder:
  """`from_hub_dir` or `from_model_dir`: exactly one of the two dirs.

  The evaluation and search CLIs call this with their `--hub_dir` /
  `--model_dir` flags.
  """
  if bool(hub_dir) == bool(model_dir):
    raise ValueError("Give exactly one of hub_dir (a TF-Hub export) and "
                     "model_dir (a training model_dir).")
  if hub_dir:
    return from_hub_dir(hub_dir, batch_size=batch_size, progress=progress)
  return from_model_dir(model_dir, checkpoint=checkpoint,
                        gin_bindings=gin_bindings, batch_size=batch_size,
                        progress=progress)


def define_model_flags(gin_bindings_help: str = GIN_BINDINGS_HELP,
                       flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the flags of `from_flags`.

  --hub_dir, --model_dir, --checkpoint (the `load` arguments of the same
  names), --gin_bindings (multi) and --batch_size (default
  `DEFAULT_BATCH_SIZE`). They belong to this module: a tool lists them in
  its --help with `flags.adopt_module_key_flags(embedders)`.

  Args:
    gin_bindings_help: help of --gin_bindings, for a tool that also reads
      them itself.
    flag_values: where to define them.
  """
  flags.DEFINE_string("hub_dir", None,
                      "TF-Hub export (export/export_tfhub.py output).",
                      flag_values=flag_values)
  flags.DEFINE_string("model_dir", None, "Training model_dir (instead of "
                      "--hub_dir).", flag_values=flag_values)
  flags.DEFINE_string("checkpoint", None, "Checkpoint in --model_dir "
                      "(default: the latest).", flag_values=flag_values)
  flags.DEFINE_multi_string("gin_bindings", [], gin_bindings_help,
                            flag_values=flag_values)
  flags.DEFINE_integer("batch_size", DEFAULT_BATCH_SIZE,
                       "Images/texts per encoder call.",
                       flag_values=flag_values)


def model_source_from_flags(
    flag_values: flags.FlagValues = flags.FLAGS) -> Dict[str, str]:
  """The given ones of --hub_dir, --model_dir, --checkpoint, by name."""
  return {name: flag_values[name].value for name in MODEL_SOURCE_FLAGS
          if flag_values[name].value}


def from_flags(flag_values: flags.FlagValues = flags.FLAGS,
               progress: bool = False) -> Embedder:
  """`load` with the flags of `define_model_flags`.

  Raises:
    ValueError: neither or both of --hub_dir and --model_dir.
    FileNotFoundError: as `from_hub_dir` / `from_model_dir`.
  """
  return load(**model_source_from_flags(flag_values),
              gin_bindings=flag_values["gin_bindings"].value,
              batch_size=flag_values["batch_size"].value, progress=progress)
