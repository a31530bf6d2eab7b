# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Runs every benchmark and writes results.json and results.md (`make bench`).

Each benchmark module (`train_step`, `inference`, `input_pipeline`,
`scaling`, `memory`, `portable_inference`, and `search_index`,
`search_page`, `beam_embed` and `sharded_index` when present) has a `run()`
returning results in the common format (`benchmarks/results.py`). Each runs
in its own subprocess (fresh memory and thread pools; one failing benchmark
does not stop the others), its comparisons measured side by side inside
that process. Outputs, next to this file by default:

  results.json  JSON list of {"name", "unit", "value", "baseline",
                "baseline_value", "ratio", "goal", ...}, ratio = value /
                baseline_value.
  results.md    the same as a Markdown table with the CPU model, core count
                and load average.

  python -m benchmarks.run_all [--only=train_step,inference] [--out_dir=DIR]
      [--gin_bindings="ImageEncoder.width_scale = 0.25" ...]
"""
import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top

BENCHMARKS = ("train_step", "inference", "input_pipeline", "scaling",
              "memory", "search_index", "search_page",
              "portable_inference", "beam_embed", "sharded_index")
_RESULTS_MARKER = "BENCHMARK_RESULTS_JSON="
# `reference.BINDINGS_ENV` (not imported here: it would load TensorFlow).
_BINDINGS_ENV = "ALIGN_BENCH_GIN_BINDINGS"

NOTES = (
    "Ratios are measured inside one process, the cases alternating window "
    "by window, so a shared machine's load affects both sides alike; "
    "absolute figures move with the load.",
    "Train step: ours = the trainer's loop (`runtime.steps`) and "
    "`AlignModel.train_step` with LAMB; floor = one bare `tf.function` (forward, loss, backward, LAMB) "
    "on the same towers; transformers = `AlignModel(return_loss=True)` + "
    "Adam, PyTorch on as many threads as TensorFlow.",
    "Memory rows are lower-is-better: peak RSS of a fresh process per case "
    "above a process that only imports the libraries.",
    "Search page rows: latency rows are lower-is-better (ms per request "
    "seen by 8 concurrent HTTP clients of `serve` on 127.0.0.1, against "
    "the same query answered in-process one at a time).",
    "Portable rows: one image or one caption per call (latency as items/s) "
    "of the LiteRT and ONNX conversions next to the SavedModel they came "
    "from; sizes lower-is-better.",
    "Loss rows: one replica's contrastive loss (local 64 rows against the "
    "global batch) next to its towers' step on the same 64 pairs.",
    "Rows against transformers need a machine that is otherwise idle (load "
    "average below the core count, kept per row as `load_average` in "
    "results.json): with more runnable threads than cores PyTorch's "
    "OpenMP threads slow down far more than TensorFlow's thread pool (at "
    "load ~9 here transformers' train step ran 6.5x slower than at load "
    "1.5, ours 2.2x), which inflates those ratios.",
)


def available() -> List[str]:
  return [b for b in BENCHMARKS
          if os.path.exists(os.path.join(HERE, f"{b}.py"))]


def run_in_process(name: str) -> List[Dict]:
  """`benchmarks.<name>.run()` in this process."""
  return list(importlib.import_module(f"benchmarks.{name}").run())


def run_in_subprocess(name: str, timeout: float) -> List[Dict]:
  """`benchmarks.<name>.run()` in a fresh Python process."""
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.run_all", f"--child={name}"],
      cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=None, text=True,
      timeout=timeout, check=False)
  for line in reversed(proc.stdout.splitlines()):
    if line.startswith(_RESULTS_MARKER):
      return json.loads(line[len(_RESULTS_MARKER):])
  raise RuntimeError(f"benchmark {name} failed (exit {proc.returncode})")


def write_outputs(results: Sequence[Dict], out_dir: str,
                  notes: Sequence[str] = NOTES) -> Dict:
  """Writes results.json and results.md; returns the machine info."""
  machine = results_lib.machine_info()
  os.makedirs(out_dir, exist_ok=True)
  results_lib.write_json(results, os.path.join(out_dir, "results.json"))
  results_lib.write_markdown(results, os.path.join(out_dir, "results.md"),
                             machine, notes)
  return machine


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--only", default=",".join(BENCHMARKS),
                      help="Comma-separated benchmarks to run.")
  parser.add_argument("--out_dir", default=HERE)
  parser.add_argument("--timeout", type=float, default=900,
                      help="Seconds per benchmark.")
  parser.add_argument("--gin_bindings", action="append", default=[],
                      help="Extra gin bindings for every benchmark, e.g. a "
                      "smaller model to try the scripts quickly.")
  parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.gin_bindings:
    os.environ[_BINDINGS_ENV] = "\n".join(args.gin_bindings)
  if args.child:
    out = run_in_process(args.child)
    print(_RESULTS_MARKER + json.dumps(out), flush=True)
    return 0
  selected = [b for b in args.only.split(",") if b]
  unknown = set(selected) - set(BENCHMARKS)
  if unknown:
    parser.error(f"unknown benchmarks {sorted(unknown)}; choose from "
                 f"{BENCHMARKS}")
  present = available()
  results, failed = [], []
  for name in selected:
    if name not in present:
      print(f"# {name}: benchmarks/{name}.py not present, skipped",
            file=sys.stderr)
      continue
    start = time.perf_counter()
    print(f"# {name} ...", file=sys.stderr, flush=True)
    try:
      rows = run_in_subprocess(name, args.timeout)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
      print(f"# {name}: FAILED: {e}", file=sys.stderr, flush=True)
      failed.append(name)
      continue
    results.extend(rows)
    print(f"# {name}: {len(rows)} results in "
          f"{time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    for r in rows:
      print(f"#   {r['name']}: {r['value']} vs {r['baseline_value']} "
            f"{r['unit']} = {r['ratio']}x (goal {r['goal']})",
            file=sys.stderr, flush=True)
    # Written after every benchmark, so an interrupted run keeps its figures.
    write_outputs(results, args.out_dir)
  machine = write_outputs(results, args.out_dir)
  with open(os.path.join(args.out_dir, "results.md"),
            encoding="utf-8") as f:
    print(f.read())
  print(f"# machine: {json.dumps(machine)}", file=sys.stderr)
  if failed:
    print(f"# failed: {failed}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
