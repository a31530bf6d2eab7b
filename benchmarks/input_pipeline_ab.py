# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""A/B of the input pipeline: this checkout's InputReader vs. another's.

Writes the shards of `benchmarks/input_pipeline.py` once, then measures
`InputReader` (its tf.data part, timed as `input_pipeline.measure` does:
warm-up batches, then `--tf_batches` timed batches of 64 pairs) alternately
from this checkout and from `--base` (e.g. a `git worktree` of the commit
before a change), each measurement in a fresh process, `--rounds` times.
Interleaving the two on the same shards, in one run, is what makes a few
percent visible on a shared, noisy machine.

  git worktree add --detach /tmp/base <commit>
  .venv/bin/python -m benchmarks.input_pipeline_ab --base=/tmp/base

Prints one JSON line per measurement and a summary: the median pairs/s
(wall) and CPU-ms per pair of each side and their ratio.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

# Defines --num_pairs, --tf_batches, --warmup_batches (used here too).
from benchmarks import input_pipeline  # pylint: disable=g-import-not-at-top
from official.align.dataloaders import build_vocab  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string("base", None, "The other checkout (its root directory).")
flags.DEFINE_integer("rounds", 5, "Measurements of each side.")
flags.DEFINE_string("image_dtype", "float32", "float32 or uint8.")

# Run in a fresh interpreter: puts a checkout's `official/align` first, then
# times the reader like `input_pipeline.measure`.
_CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
import official
root = os.path.join(sys.argv[1], "official")
official.__path__[:] = [root] + [p for p in official.__path__
                                 if not os.path.isdir(os.path.join(p, "align"))]
from official.align.dataloaders import input_reader
assert input_reader.__file__.startswith(root), input_reader.__file__
pattern, vocab, image_dtype = sys.argv[2], sys.argv[3], sys.argv[4]
warmup, timed = int(sys.argv[5]), int(sys.argv[6])
def cpu():
  u = resource.getrusage(resource.RUSAGE_SELF)
  return u.ru_utime + u.ru_stime
reader = input_reader.InputReader(
    pattern, 64, is_training=True, vocab_file=vocab, seq_length=64,
    image_size=289, resize_size=346, image_dtype=image_dtype, seed=0)
it = iter(reader())
for _ in range(warmup):
  next(it)
start, cpu_start = time.perf_counter(), cpu()
for _ in range(timed):
  batch = next(it)
wall, used = time.perf_counter() - start, cpu() - cpu_start
pairs = 64 * timed
print("AB_RESULT=" + json.dumps(dict(
    pairs_per_s=pairs / wall, cpu_ms_per_pair=1000 * used / pairs,
    load_avg_1m=os.getloadavg()[0])))
"""


def _measure(checkout, pattern, vocab):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(
      [sys.executable, "-c", _CHILD, checkout, pattern, vocab,
       FLAGS.image_dtype, str(FLAGS.warmup_batches), str(FLAGS.tf_batches)],
      capture_output=True, text=True, env=env, check=True)
  line = next(l for l in result.stdout.splitlines()
              if l.startswith("AB_RESULT="))
  return json.loads(line[len("AB_RESULT="):])


def main(argv):
  del argv
  sides = {"new": REPO_ROOT, "base": os.path.abspath(FLAGS.base)}
  with tempfile.TemporaryDirectory() as work_dir:
    pattern = input_pipeline.write_shards(work_dir, FLAGS.num_pairs, 8)
    vocab = os.path.join(work_dir, "vocab.txt")
    build_vocab.write_vocab(build_vocab.learn_vocab(
        pattern, vocab_size=4000, learn_params={"lower_thresh": 2}), vocab)
    figures = {side: [] for side in sides}
    for round_number in range(FLAGS.rounds):
      # Alternate which side goes first.
      order = list(sides) if round_number % 2 == 0 else list(sides)[::-1]
      for side in order:
        m = _measure(sides[side], pattern, vocab)
        figures[side].append(m)
        print(json.dumps(dict(m, side=side, round=round_number)), flush=True)
  summary = {}
  for side, ms in figures.items():
    summary[side] = {
        "pairs_per_s": statistics.median(m["pairs_per_s"] for m in ms),
        "cpu_ms_per_pair": statistics.median(m["cpu_ms_per_pair"]
                                             for m in ms)}
  ratio_rate = summary["new"]["pairs_per_s"] / summary["base"]["pairs_per_s"]
  ratio_cpu = (summary["new"]["cpu_ms_per_pair"] /
               summary["base"]["cpu_ms_per_pair"])
  print(json.dumps(dict(summary, rate_new_over_base=ratio_rate,
                        cpu_new_over_base=ratio_cpu,
                        image_dtype=FLAGS.image_dtype, rounds=FLAGS.rounds)))
  for side, s in summary.items():
    print(f"# {side:4s}: {s['pairs_per_s']:7.1f} pairs/s, "
          f"{s['cpu_ms_per_pair']:.3f} CPU-ms/pair (median of "
          f"{FLAGS.rounds})", file=sys.stderr)
  print(f"# new/base: {ratio_rate:.3f}x pairs/s, {ratio_cpu:.3f}x CPU per "
        "pair", file=sys.stderr)


if __name__ == "__main__":
  flags.mark_flag_as_required("base")
  app.run(main)
