# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Peak memory of an image-tower training step with and without recomputation.

Each configuration runs in a fresh subprocess (peak RSS is per process):
build the `ImageEncoder`, run `--steps` forward/backward passes in a
`tf.function`, and report the process' peak resident set size
(`ru_maxrss`), its RSS before the first step, and seconds per step. CPU
only; on GPUs `tf.config.experimental.get_memory_info` would be the figure.

  python benchmarks/recompute_memory.py --model_id=b0 --image_size=224 \
      --batch_size=32
"""
import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

flags.DEFINE_string("model_id", "b0", "EfficientNet variant.")
flags.DEFINE_integer("image_size", 224, "Square input side, pixels.")
flags.DEFINE_integer("batch_size", 32, "Images per step.")
flags.DEFINE_integer("steps", 2, "Measured steps (after one warm-up).")
flags.DEFINE_bool("recompute", None, "Internal: run one configuration.")
FLAGS = flags.FLAGS


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(recompute: bool):
  """Measures one configuration in this process; prints a JSON line."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.align.modeling import towers  # pylint: disable=g-import-not-at-top
  from official.align.modeling import image_encoder  # pylint: disable=g-import-not-at-top

  tower = image_encoder.ImageEncoder(model_id=FLAGS.model_id)
  images = tf.random.uniform(
      [FLAGS.batch_size, FLAGS.image_size, FLAGS.image_size, 3])
  tower(images[:1])
  if recompute:
    towers.recompute_tower(tower)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(tower(images, training=True)))
    return tf.linalg.global_norm(
        tape.gradient(loss, tower.trainable_variables))

  step.get_concrete_function()
  rss_before = _current_rss_mb()
  step()  # Warm-up.
  start = time.time()
  for _ in range(FLAGS.steps):
    step().numpy()
  print(json.dumps(dict(
      recompute=recompute, peak_rss_mb=round(_peak_rss_mb()),
      rss_before_step_mb=round(rss_before),
      seconds_per_step=round((time.time() - start) / FLAGS.steps, 2))))


def main(argv):
  del argv
  if FLAGS.recompute is not None:
    run_one(FLAGS.recompute)
    return
  results = []
  for recompute in (False, True):
    out = subprocess.run(
        [sys.executable, __file__, f"--recompute={recompute}",
         f"--model_id={FLAGS.model_id}", f"--image_size={FLAGS.image_size}",
         f"--batch_size={FLAGS.batch_size}", f"--steps={FLAGS.steps}"],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
  print(f"EfficientNet-{FLAGS.model_id}, {FLAGS.batch_size} x "
        f"{FLAGS.image_size}px, one forward+backward step on CPU:")
  for r in results:
    print(f"  recompute={r['recompute']!s:5}  peak RSS {r['peak_rss_mb']} MB "
          f"(RSS before the step {r['rss_before_step_mb']} MB, so the step "
          f"adds {r['peak_rss_mb'] - r['rss_before_step_mb']} MB), "
          f"{r['seconds_per_step']} s/step")
  plain, recomputed = results
  added = [r["peak_rss_mb"] - r["rss_before_step_mb"] for r in results]
  print(f"  peak RSS saved: {plain['peak_rss_mb'] - recomputed['peak_rss_mb']}"
        f" MB; memory added by the step: {added[1] / max(added[0], 1):.2f}x")


if __name__ == "__main__":
  app.run(main)
