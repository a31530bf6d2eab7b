# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The run directory: what a training run leaves, and how to load it.

    MODEL_DIR/
      operative_config.gin   the gin configuration the run used (code: read
                             back only through `run_dir_config`'s checks).
      preprocessing.json     the model's `Preprocessing` (data).
      checkpoints/ckpt-N*    `tf.train.CheckpointManager` checkpoints; the
                             model under `model/`.
      train/, eval/          TensorBoard event files.

The trainer (`runtime.trainer`), the Hugging Face converter
(`checkpoints.hf_align`), serving, inference and the transfer tasks all go
through this module. It sits below all of them and imports no training
code: `restore_model` builds the model from the recorded configuration with
unknown (training) configurables skipped, on an isolated gin configuration
(`gin_utils.isolated_config`), so the caller's gin configuration is
untouched. Run dirs written before `preprocessing.json` existed are read
through their operative config (`read_preprocessing`).
"""
import json
import os
from typing import Optional, Sequence, Tuple

from absl import logging

import gin
from gin import config_parser
import tensorflow as tf

from official.align import gin_utils
from official.align import preprocessing as preprocessing_lib
from official.align import run_dir_config
from official.align.checkpoints import compat
from official.align.modeling import align_model

OPERATIVE_CONFIG = run_dir_config.OPERATIVE_CONFIG
PREPROCESSING_FILE = "preprocessing.json"
CHECKPOINT_SUBDIR = "checkpoints"


class CheckpointNotFoundError(FileNotFoundError, ValueError):
  """No checkpoint where one was expected."""


def checkpoint_dir(model_dir: str) -> str:
  return os.path.join(model_dir, CHECKPOINT_SUBDIR)


def latest_checkpoint(model_dir: str) -> Optional[str]:
  """The newest checkpoint prefix under `model_dir/checkpoints`, or None."""
  return tf.train.latest_checkpoint(checkpoint_dir(model_dir))


def resolve_checkpoint(path: str, checkpoint: Optional[str] = None) -> str:
  """A checkpoint prefix from a prefix, a checkpoint dir or a model dir.

  Args:
    path: a model dir (the latest of its `checkpoints/`), a checkpoint
      directory (its latest) or a checkpoint prefix.
    checkpoint: a prefix that takes precedence, if given.

  Raises:
    CheckpointNotFoundError: (a FileNotFoundError and ValueError) nothing
      found, naming `path`.
  """
  if checkpoint:
    return checkpoint
  if tf.io.gfile.isdir(path):
    for directory in (path, checkpoint_dir(path.rstrip("/"))):
      prefix = tf.train.latest_checkpoint(directory)
      if prefix:
        return prefix
    raise CheckpointNotFoundError(
        f"No checkpoint found in {path} or {checkpoint_dir(path)}.")
  if not tf.io.gfile.glob(path + ".index"):
    raise CheckpointNotFoundError(
        f"Checkpoint {path} not found (no {path}.index).")
  return path


def write_run_record(model_dir: str, operative_config: str,
                     preprocessing: Optional[
                         preprocessing_lib.Preprocessing]) -> None:
  """Writes operative_config.gin and (if given) preprocessing.json."""
  tf.io.gfile.makedirs(model_dir)
  with tf.io.gfile.GFile(os.path.join(model_dir, OPERATIVE_CONFIG), "w") as f:
    f.write(operative_config)
  if preprocessing is not None:
    with tf.io.gfile.GFile(os.path.join(model_dir, PREPROCESSING_FILE),
                           "w") as f:
      f.write(preprocessing.to_json())


def read_operative_config(model_dir: str) -> str:
  """The checked, legacy-translated operative config of `model_dir`.

  Raises:
    FileNotFoundError: there is none.
    run_dir_config.UntrustedConfigError: it holds `include`, an `import`
      outside official.align or dynamic registration.
  """
  path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"No {OPERATIVE_CONFIG} in {model_dir}.")
  return run_dir_config.translate_legacy(run_dir_config.read_checked(path))


class _Literals(config_parser.ParserDelegate):
  """Parses a config's literal values; references and macros stay None."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return None

  def macro(self, macro_name):
    return None


def read_preprocessing(model_dir: str) -> preprocessing_lib.Preprocessing:
  """The `Preprocessing` a run recorded, without touching gin's state.

  From preprocessing.json if there is one, else from the unscoped
  `Preprocessing.*` bindings of the (legacy-translated) operative config
  (fields it does not bind take the defaults).

  Raises:
    FileNotFoundError: neither file is there.
    ValueError: an unreadable file.
  """
  json_path = os.path.join(model_dir, PREPROCESSING_FILE)
  if tf.io.gfile.exists(json_path):
    with tf.io.gfile.GFile(json_path) as f:
      try:
        values = json.load(f)
      except ValueError as e:
        raise ValueError(f"{json_path}: not JSON ({e}).") from e
    if not isinstance(values, dict):
      raise ValueError(f"{json_path}: not a JSON object.")
    return preprocessing_lib.Preprocessing.from_dict(values, json_path)
  return preprocessing_lib.Preprocessing.from_dict(
      preprocessing_bindings(read_operative_config(model_dir), model_dir),
      model_dir)


def preprocessing_bindings(text: str, source: str) -> dict:
  """{field: value} of the unscoped `Preprocessing.*` bindings of `text`.

  Parsed without touching gin's state; references and macros read as None.
  """
  with run_dir_config.gin_syntax_errors_as_value_errors(source):
    statements = list(config_parser.ConfigParser(text, _Literals()))
  return {s.arg_name: s.value for s in statements
          if isinstance(s, config_parser.BindingStatement) and not s.scope
          and s.selector == "Preprocessing"}


# Fields of a run started from a checkpoint that are always the checkpoint's:
# a tower fed another pixel range or tokenisation sees inputs it was not
# trained on. The crop and resize sizes (a fine-tune may change resolution)
# and the vocabulary path follow the config where it binds them.
FROM_INIT_CHECKPOINT = ("pixel_range", "lower_case", "seq_length")


def init_preprocessing(init_checkpoint: Optional[str],
                       configured: preprocessing_lib.Preprocessing,
                       what: str) -> preprocessing_lib.Preprocessing:
  """The preprocessing of a run that starts from `init_checkpoint`.

  A model dir records the preprocessing its towers were trained with
  (`read_preprocessing`; a converted Hugging Face checkpoint's too): the
  run uses its `FROM_INIT_CHECKPOINT` fields whatever the config binds
  (a differing binding is logged as a warning), and its other fields unless
  the config binds them. A checkpoint prefix records nothing: the configured
  preprocessing is used.

  Args:
    init_checkpoint: a model dir, checkpoint dir or prefix, or None.
    configured: the gin-configured `Preprocessing()`.
    what: the configurable taking `init_checkpoint`, for messages.
  """
  if not init_checkpoint or not tf.io.gfile.isdir(init_checkpoint):
    return configured
  try:
    recorded = read_preprocessing(init_checkpoint)
  except FileNotFoundError:
    return configured
  overrides = {}
  for name in ("image_size", "resize_size", "vocab_file") + (
      FROM_INIT_CHECKPOINT):
    try:
      gin.query_parameter(f"Preprocessing.{name}")
    except ValueError:
      continue  # Not bound.
    value = getattr(configured, name)
    if name not in FROM_INIT_CHECKPOINT:
      overrides[name] = value
    elif value != getattr(recorded, name):
      logging.warning(
          "%s.init_checkpoint %s was trained with Preprocessing.%s=%r; "
          "using it, not the configured %r.", what, init_checkpoint, name,
          getattr(recorded, name), value)
  if overrides.get("vocab_file", "") is None:
    del overrides["vocab_file"]
  preprocessing = recorded.replace(**overrides)
  logging.info("Preprocessing of %s (from %s): %s", what, init_checkpoint,
               preprocessing)
  return preprocessing


def restore_model(model_dir: str,
                  checkpoint: Optional[str] = None,
                  gin_bindings: Sequence[str] = (),
                  strict_bindings: bool = False
                  ) -> Tuple[align_model.AlignModel,
                             preprocessing_lib.Preprocessing, str]:
  """Builds a run's trained `AlignModel` (float32) and restores it.

  The model is built from `model_dir`'s operative config plus
  `gin_bindings` (old binding names translated) on an isolated gin
  configuration: the caller's gin configuration is the same afterwards.
  Unknown configurables of the recorded config (the optimizer, the
  trainer, ...) are skipped.

  Args:
    model_dir: a training or converted model dir.
    checkpoint: checkpoint prefix; default: the latest in
      `model_dir/checkpoints`.
    gin_bindings: the user's bindings, applied after the operative config,
      e.g. a moved `Preprocessing.vocab_file`.
    strict_bindings: an unknown configurable in `gin_bindings` raises (else
      it is skipped, for tools binding configurables of their own).

  Returns:
    (model, preprocessing, checkpoint prefix).

  Raises:
    FileNotFoundError: no operative config or no checkpoint.
    run_dir_config.UntrustedConfigError: see `read_operative_config`.
    ValueError: a misspelt parameter or a syntax error in `gin_bindings`;
      with `strict_bindings`, an unknown configurable too.
    compat.ConfigError: the checkpoint is of another architecture than the
      config, or the vocabulary overflows its embedding table.
  """
  config_text = run_dir_config.without_imports(
      read_operative_config(model_dir))
  bindings = [run_dir_config.translate_legacy(b) for b in gin_bindings]
  with gin_utils.isolated_config():
    with run_dir_config.gin_syntax_errors_as_value_errors(
        os.path.join(model_dir, OPERATIVE_CONFIG)):
      gin.parse_config(config_text, skip_unknown=True)
    with run_dir_config.gin_syntax_errors_as_value_errors("--gin_bindings"):
      gin.parse_config(bindings, skip_unknown=not strict_bindings)
    checkpoint = checkpoint or latest_checkpoint(model_dir)
    if not checkpoint:
      raise CheckpointNotFoundError(f"No checkpoint found in {model_dir}.")
    # What the run recorded, then the user's bindings (e.g. a moved vocab).
    preprocessing = read_preprocessing(model_dir).replace(
        **preprocessing_bindings("\n".join(bindings), "--gin_bindings"))
    model = align_model.build_align_model(preprocessing=preprocessing)
  compat.check_checkpoint_fits_model(checkpoint, model)
  # The training checkpoint also holds the optimizer and the data iterator.
  status = tf.train.Checkpoint(model=model).restore(checkpoint)
  status.expect_partial().assert_existing_objects_matched()
  compat.check_vocabulary_fits_model(preprocessing.vocab_file, model,
                                     "checkpoint")
  return model, preprocessing, checkpoint
