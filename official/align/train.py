# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Trains ALIGN: a thin command line over `runtime.trainer`.

  python official/align/train.py --gin_file=configs/tiny.gin \
      --gin_bindings="AlignTask.train_file_pattern='shards/*.tfrecord'" \
      --gin_bindings="Preprocessing.vocab_file='shards/vocab.txt'" \
      --gin_bindings='TrainConfig.train_steps=10' --model_dir=/tmp/align

The task is `TrainConfig.task` (default `AlignTask()`; e.g.
`@ClassificationTask()` for a linear probe).

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

from official.align import gin_utils
from official.align.checkpoints import compat
from official.align.dataloaders import input_reader
from official.align.runtime import config as config_lib
from official.align.runtime import trainer
from official.align.tasks import align_task

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
    gin_utils.parse_gin(FLAGS.gin_file, bindings, model_dir=FLAGS.model_dir)
    config = config_lib.TrainConfig()
    if config.task is None:
      config.task = align_task.AlignTask()
  except (IOError, ValueError) as e:
    sys.exit("train.py: error: " + " ".join(str(e).split()))
  try:
    result = trainer.train(FLAGS.model_dir, config=config)
  except compat.ConfigError as e:
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
