# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Trains ALIGN: a thin command line over `train_lib`.

  python official/align/train.py --gin_file=configs/tiny.gin \
      --gin_file=configs/demo.gin --gin_bindings='TrainConfig.train_steps=10' \
      --model_dir=/tmp/align

Strategy: `--tpu=NAME` (TPUStrategy), else multi-worker from TF_CONFIG,
else all GPUs (MirroredStrategy), else one device; or
`--distribution_strategy` / `build_strategy.distribution_strategy`.
Exit code 0 also after SIGTERM (a checkpoint is saved at the current step).
"""
import sys

from absl import app
from absl import flags
from absl import logging

import tensorflow as tf

from official.align import checkpoint_compat
from official.align import train_lib
from official.align.dataloaders import input_reader

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [], "Gin config files, in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'a.b=1'.")
flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, config.")
flags.DEFINE_string("tpu", None, "TPU name/address ('local' on a TPU VM).")
flags.DEFINE_string("distribution_strategy", None,
                    "auto|tpu|multi_worker_mirrored|mirrored|default; "
                    "overrides build_strategy.distribution_strategy.")
flags.mark_flag_as_required("model_dir")


def main(argv):
  del argv
  bindings = list(FLAGS.gin_bindings)
  if FLAGS.tpu:
    bindings.append(f"build_strategy.tpu = {FLAGS.tpu!r}")
  if FLAGS.distribution_strategy:
    bindings.append("build_strategy.distribution_strategy = "
                    f"{FLAGS.distribution_strategy!r}")
  # Configuration errors end the run with one line, before any work.
  try:
    train_lib.parse_gin(FLAGS.gin_file, bindings, model_dir=FLAGS.model_dir)
  except (IOError, ValueError) as e:
    sys.exit("train.py: error: " + " ".join(str(e).split()))
  try:
    result = train_lib.train(FLAGS.model_dir)
  except checkpoint_compat.ConfigError as e:
    # The first line; gin appends "In call to configurable ..." lines.
    sys.exit(f"train.py: error: {str(e).splitlines()[0]}")
  except tf.errors.InvalidArgumentError as e:
    message = input_reader.no_usable_records(e)
    if message is None:
      raise
    sys.exit(f"train.py: error: {message}")
  logging.info("Done at step %d (preempted: %s).", result["step"],
               result["preempted"])


if __name__ == "__main__":
  app.run(main)
