# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Peak memory (RSS) of each benchmark case, one subprocess per case.

Each case runs in a fresh Python process that imports everything both sides
need (TensorFlow, the project, torch, transformers), builds its model, runs
`--steps` steps (training) or batches (inference) and reports
`resource.getrusage(RUSAGE_SELF).ru_maxrss`. A process that only does the
imports gives the floor; the table shows each case's peak above that floor
(the memory the case itself needs), the raw peaks are kept in the JSON.

  python -m benchmarks.memory [--steps=2]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (module, case) of each subprocess; "imports" only imports.
TRAIN_CASES = ("ours", "transformers")
INFERENCE_CASES = ("ours_images", "transformers_images", "ours_token_ids",
                   "transformers_texts")


def peak_rss_mb() -> float:
  """Peak resident set size of this process so far, MiB (Linux: KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(args) -> Dict:
  """Runs one case in this (fresh) process; returns its figures."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow
  import torch
  import transformers
  from benchmarks import inference
  from benchmarks import reference
  from benchmarks import train_step
  # pylint: enable=g-import-not-at-top,unused-import
  reference.parse_reference_config()
  reference.set_torch_threads(reference.tf_threads())
  if args.module == "imports":
    pass
  elif args.module == "export":
    inference.export_reference(args.work_dir)
  elif args.module == "train_step":
    step, _ = train_step.make_case(args.case)
    for _ in range(args.steps):
      step()
  elif args.module == "inference":
    fn = inference.make_case(args.case, os.path.join(args.work_dir, "export"),
                             reference.reference_shapes()["global_batch_size"])
    for _ in range(args.steps):
      fn()
  else:
    raise ValueError(f"Unknown module {args.module!r}")
  return dict(module=args.module, case=args.case, peak_rss_mb=peak_rss_mb())


def measure_case(module: str, case: Optional[str] = None, steps: int = 3,
                 work_dir: Optional[str] = None,
                 timeout: float = 900) -> Dict:
  """Peak RSS of `module`'s `case` in a fresh subprocess."""
  cmd = [sys.executable, "-m", "benchmarks.memory", "--child",
         f"--module={module}", f"--steps={steps}"]
  if case:
    cmd.append(f"--case={case}")
  if work_dir:
    cmd.append(f"--work_dir={work_dir}")
  proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                        timeout=timeout, check=False)
  if proc.returncode:
    raise RuntimeError(f"memory case {module}/{case} failed "
                       f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def run(steps: int = 2) -> List:
  """Peak RSS above the import floor, ours vs transformers, per case."""
  from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
  floor = measure_case("imports")["peak_rss_mb"]
  peaks = {}
  for case in TRAIN_CASES:
    peaks[("train_step", case)] = measure_case(
        "train_step", case, steps)["peak_rss_mb"]
  with tempfile.TemporaryDirectory() as work_dir:
    measure_case("export", work_dir=work_dir)
    for case in INFERENCE_CASES:
      peaks[("inference", case)] = measure_case(
          "inference", case, steps, work_dir)["peak_rss_mb"]
  unit = "MB peak RSS above imports (lower is better)"
  goal = "lower is better (no goal)"
  extra = lambda a, b: dict(  # pylint: disable=g-long-lambda
      import_floor_mb=round(floor, 1), peak_rss_mb=round(peaks[a], 1),
      baseline_peak_rss_mb=round(peaks[b], 1), steps=steps)
  rows = [
      ("memory: train step, ours (train_lib loop, LAMB)",
       ("train_step", "ours"), "transformers AlignModel train step (Adam)",
       ("train_step", "transformers")),
      ("memory: inference, exported image_encoder", ("inference",
                                                     "ours_images"),
       "transformers get_image_features", ("inference",
                                           "transformers_images")),
      ("memory: inference, exported text_encoder (token_ids)",
       ("inference", "ours_token_ids"), "transformers get_text_features",
       ("inference", "transformers_texts")),
  ]
  return [results_lib.result(name, unit, max(peaks[a] - floor, 1.0),
                             baseline, max(peaks[b] - floor, 1.0), goal=goal,
                             **extra(a, b))
          for name, a, baseline, b in rows]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--child", action="store_true",
                      help="Run one case in this process (internal).")
  parser.add_argument("--module", default="imports")
  parser.add_argument("--case", default=None)
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--work_dir", default=None)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(_child(args)), flush=True)
    return
  for r in run(args.steps):
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
