# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The model-selection flags of the evaluation and search command lines.

  model_flags.define_model_flags()  # --hub_dir --model_dir --checkpoint ...
  flags.adopt_module_key_flags(model_flags)  # List them in the tool's --help.
  ...
  embedder = model_flags.from_flags()
"""
from typing import Dict

from absl import flags

from official.align.inference import embedder as embedder_lib
from official.align.inference import loaders

DEFAULT_BATCH_SIZE = embedder_lib.DEFAULT_BATCH_SIZE
# The flags (and `loaders.load` arguments) that say which model to load.
MODEL_SOURCE_FLAGS = ("hub_dir", "model_dir", "checkpoint")
GIN_BINDINGS_HELP = ("Bindings after the operative config (--model_dir "
                     "only)")


def define_model_flags(gin_bindings_help: str = GIN_BINDINGS_HELP,
                       flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the flags of `from_flags`.

  --hub_dir, --model_dir, --checkpoint (the `load` arguments of the same
  names), --gin_bindings (multi) and --batch_size (default
  `DEFAULT_BATCH_SIZE`). They belong to this module: a tool lists them in
  its --help with `flags.adopt_module_key_flags(model_flags)`.

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
               progress: bool = False) -> embedder_lib.Embedder:
  """`load` with the flags of `define_model_flags`.

  Raises:
    ValueError: neither or both of --hub_dir and --model_dir.
    FileNotFoundError: as `from_hub_dir` / `from_model_dir`.
  """
  return loaders.load(**model_source_from_flags(flag_values),
                      gin_bindings=flag_values["gin_bindings"].value,
                      batch_size=flag_values["batch_size"].value,
                      progress=progress)
