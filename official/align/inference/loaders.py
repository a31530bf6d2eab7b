# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Loading an `Embedder` from a TF-Hub export or a run dir.

  embedder = loaders.from_hub_dir("runs/demo/export")

loads the `image_encoder/` and `text_encoder/` SavedModels of
`export/export_tfhub.py` (no model code of this package), and

  embedder = loaders.from_model_dir("runs/demo/model")

restores a run dir's checkpoint (`run_dir.restore_model`) and wraps it in
the very functions the exporter saves (`export_lib.build_serving_modules`),
so both paths preprocess identically. `load` picks one of the two.
"""
import os
from typing import Optional, Sequence

from absl import logging
import tensorflow as tf
import tensorflow_text  # noqa: F401  pylint: disable=unused-import

from official.align import run_dir
from official.align.inference import embedder as embedder_lib
from official.align.serving import export_lib

IMAGE_MODULE = "image_encoder"
TEXT_MODULE = "text_encoder"


def _check_saved_model(path: str):
  if not (tf.io.gfile.isdir(path) and
          tf.saved_model.contains_saved_model(path)):
    raise FileNotFoundError(
        f"No SavedModel at {path} (expected the output of "
        "export/export_tfhub.py).")


def from_hub_dir(hub_dir: str, batch_size: int = embedder_lib.DEFAULT_BATCH_SIZE,
                 progress: bool = False) -> embedder_lib.Embedder:
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
  embedder = embedder_lib.Embedder(
      encode_texts=lambda t: text_fn(text=t)["embeddings"],
      encode_images=lambda x: images_fn(images=x)["embeddings"],
      encode_image_bytes=lambda b: bytes_fn(image_bytes=b)["embeddings"],
      logit_scale=logit_scale, source=hub_dir, batch_size=batch_size,
      progress=progress, keep_alive=(image_module, text_module))
  logging.info("Loaded the TF-Hub encoders from %s", hub_dir)
  return embedder


def from_model_dir(model_dir: str, checkpoint: Optional[str] = None,
                   gin_bindings: Sequence[str] = (),
                   batch_size: int = embedder_lib.DEFAULT_BATCH_SIZE,
                   progress: bool = False) -> embedder_lib.Embedder:
  """An `Embedder` on a training `model_dir` (latest or given checkpoint).

  The model is built from the run's recorded configuration
  (`run_dir.restore_model`); the caller's gin configuration is untouched.

  Args:
    model_dir: a run dir (trained or converted).
    checkpoint: checkpoint prefix; default: the latest.
    gin_bindings: extra bindings (e.g. a moved `Preprocessing.vocab_file`).
    batch_size: default items per encoder call.
    progress: show progress bars by default.

  Raises:
    FileNotFoundError: no model_dir, operative config or checkpoint.
  """
  model_dir = os.fspath(model_dir)
  if not tf.io.gfile.isdir(model_dir):
    raise FileNotFoundError(f"Model directory not found: {model_dir}")
  model, config, checkpoint = run_dir.restore_model(
      model_dir, checkpoint, gin_bindings)
  if not isinstance(config.vocab_file, str) or not tf.io.gfile.exists(
      config.vocab_file):
    raise FileNotFoundError(
        f"The vocabulary of {model_dir} ({config.vocab_file}) is not there; "
        "pass gin_bindings=[\"Preprocessing.vocab_file = '/path/vocab.txt'\"].")
  _, image_signatures, text, text_signatures = (
      export_lib.build_serving_modules(model, config))
  images_fn = image_signatures["serving_default"]
  bytes_fn = image_signatures["image_bytes"]
  text_fn = text_signatures["serving_default"]
  embedder = embedder_lib.Embedder(
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
         batch_size: int = embedder_lib.DEFAULT_BATCH_SIZE,
         progress: bool = False) -> embedder_lib.Embedder:
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
