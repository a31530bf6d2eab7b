# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Profiles benchmark cases with `tf.profiler` and summarises the trace.

Writes a TensorBoard profile (`--logdir`, viewable with the profile plugin)
of `--steps` steps of a case from `train_step` (`ours`, `bare`) or of the
input pipeline, then reads the trace's `.xplane.pb` back (no plugin needed)
and prints the busiest TensorFlow ops by total self time on the host
threads, the share of wall time the op threads were busy, and the Python-side
(TraceMe) events.

  python -m benchmarks.profile_step --case=ours --steps=3
  python -m benchmarks.profile_step --case=bare --steps=3
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import collections
import glob
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from benchmarks import reference
from benchmarks import train_step


def summarize_xspace(path: str, top: int = 25) -> Dict:
  """Op time totals of one `.xplane.pb` (host plane).

  Returns:
    dict: `ops` [(name, total_ms, count)] sorted by time, `op_types`
    [(op type, total_ms, count)] of the TensorFlow kernels (events named
    "node:OpType") over all op threads, `busy_ms` per thread line,
    `span_ms` (first to last event).
  """
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  totals = collections.defaultdict(lambda: [0.0, 0])
  op_types = collections.defaultdict(lambda: [0.0, 0])
  busy = {}
  first, last = None, None
  for plane in space.planes:
    if not plane.name.startswith("/host:CPU"):
      continue
    metadata = {k: v.name for k, v in plane.event_metadata.items()}
    for line in plane.lines:
      line_ms = 0.0
      for event in line.events:
        name = metadata.get(event.metadata_id, "?")
        ms = event.duration_ps / 1e9
        start = line.timestamp_ns * 1e3 + event.offset_ps
        first = start if first is None else min(first, start)
        end = start + event.duration_ps
        last = end if last is None else max(last, end)
        totals[(line.name, name)][0] += ms
        totals[(line.name, name)][1] += 1
        if (":" in name and "::" not in name and
            not line.name.startswith("python")):
          op_type = name.rsplit(":", 1)[1]
          op_types[op_type][0] += ms
          op_types[op_type][1] += 1
        line_ms += ms
      busy[line.name] = busy.get(line.name, 0.0) + line_ms
  ops = sorted(((f"{line}: {name}", t, c)
                for (line, name), (t, c) in totals.items()),
               key=lambda x: -x[1])
  span_ms = (last - first) / 1e9 if first is not None else 0.0
  types = sorted(((k, t, c) for k, (t, c) in op_types.items()),
                 key=lambda x: -x[1])
  return dict(ops=ops[:top], op_types=types[:top], busy_ms=busy,
              span_ms=span_ms)


def profile(step_fn, steps: int, logdir: str) -> Tuple[float, List[str]]:
  """Traces `steps` calls of step_fn; returns (seconds, xplane paths)."""
  step_fn()  # Warm-up outside the trace.
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  for i in range(steps):
    with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
      step_fn()
  seconds = time.perf_counter() - start
  tf.profiler.experimental.stop()
  return seconds, sorted(glob.glob(os.path.join(
      logdir, "plugins", "profile", "*", "*.xplane.pb")))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--case", default="ours", choices=("ours", "bare"))
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--logdir", default=None)
  parser.add_argument("--top", type=int, default=25)
  parser.add_argument("--summarize", default=None,
                      help="Only summarise this existing .xplane.pb.")
  args = parser.parse_args()
  if args.summarize:
    _print_summary(summarize_xspace(args.summarize, args.top))
    return 0
  reference.parse_reference_config()
  step, batch_size = train_step.make_case(args.case)
  logdir = args.logdir or tempfile.mkdtemp(prefix=f"profile_{args.case}_")
  seconds, paths = profile(step, args.steps, logdir)
  print(f"# {args.case}: {args.steps} steps in {seconds:.2f}s "
        f"({args.steps * batch_size / seconds:.1f} pairs/s); trace in "
        f"{logdir}")
  for path in paths:
    print(f"# {path}")
    _print_summary(summarize_xspace(path, args.top))
  return 0


def _print_summary(summary: Dict):
  print(f"# span {summary['span_ms']:.0f} ms; busy ms per thread line:")
  for line, ms in sorted(summary["busy_ms"].items(), key=lambda x: -x[1]):
    print(f"#   {ms:10.1f}  {line}")
  kernel_ms = sum(ms for _, ms, _ in summary["op_types"])
  print(f"# kernel time by op type (total ms, count, share of listed):")
  for name, ms, count in summary["op_types"]:
    print(f"{ms:10.1f} {count:6d} {100 * ms / max(kernel_ms, 1e-9):5.1f}%  "
          f"{name}")
  print("# top events (total ms, count):")
  for name, ms, count in summary["ops"]:
    print(f"{ms:10.1f} {count:6d}  {name}")


if __name__ == "__main__":
  sys.exit(main())
