# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""`make demo`: the end-to-end CPU demo (see `demo.driver`).

  python -m official.align.demo --workdir=runs/demo [--seed=0] \
      [--gin_file=...] [--gin_bindings=...]

--seed seeds the model's initialisation and the training input order (the
world is generated with its own seed, `generate.seed`, default 0): the same
seed gives the same run. Prints the result table and writes
WORKDIR/results.json and WORKDIR/zero_shot.png.
"""
import os

from absl import app
from absl import flags

from official.align import gin_utils
from official.align.demo import driver

flags.DEFINE_string("workdir", "runs/demo", "Demo output directory.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and input order "
                     "(TrainConfig.seed).")
flags.DEFINE_multi_string("gin_file", [], "Extra gin files after demo.gin.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  gin_utils.parse_gin([driver.DEFAULT_GIN_FILE] + list(FLAGS.gin_file),
                      [f"TrainConfig.seed = {FLAGS.seed}"] +
                      list(FLAGS.gin_bindings))
  result = driver.run_demo(FLAGS.workdir)
  print(result["table"])
  print(f"Figure: {os.path.join(FLAGS.workdir, 'zero_shot.png')}")


if __name__ == "__main__":
  app.run(main)
