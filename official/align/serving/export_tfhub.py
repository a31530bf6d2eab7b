# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Exports a trained ALIGN model_dir as TF Hub SavedModels.

  python export/export_tfhub.py --model_dir=/tmp/align \
      --export_dir=/tmp/align_hub [--checkpoint=/tmp/align/checkpoints/ckpt-600]
      [--gin_bindings="Preprocessing.resize_size = 320"] [--overwrite]

(or `python -m official.align.serving.export_tfhub ...`).

Writes image_encoder/, text_encoder/, text_preprocessor/ and README.md
(see `official.align.serving.export_lib`). --gin_bindings are parsed
strictly (a misspelt configurable or parameter is an error); an
--export_dir that is or contains --model_dir is refused, even with
--overwrite. Every error is one line `export_tfhub: error: ...`, exit 1.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from official.align.serving import export_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None,
                    "Training model_dir (operative_config.gin, checkpoints/).")
flags.DEFINE_string("checkpoint", None,
                    "Checkpoint prefix; default: latest in model_dir.")
flags.DEFINE_string("export_dir", None, "Output directory.")
flags.DEFINE_bool("overwrite", False, "Replace an existing export_dir.")
flags.DEFINE_multi_string(
    "gin_bindings", [], "Bindings applied after the operative config, e.g. "
    "\"Preprocessing.vocab_file = '/path/vocab.txt'\".")
flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv):
  del argv
  try:
    checkpoint = export_lib.export(
        FLAGS.model_dir, FLAGS.export_dir, checkpoint=FLAGS.checkpoint,
        overwrite=FLAGS.overwrite, gin_bindings=FLAGS.gin_bindings)
  except (FileExistsError, FileNotFoundError, ValueError) as e:
    # ValueError includes checkpoints.compat.ConfigError and gin's errors.
    sys.exit("export_tfhub: error: " + " ".join(str(e).split()))
  logging.info("Exported %s to %s", checkpoint, FLAGS.export_dir)


if __name__ == "__main__":
  app.run(main)
