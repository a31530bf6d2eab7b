# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The common result format of the benchmarks and its JSON/Markdown writers.

One result is one comparison:

  {"name": str, "unit": str, "value": float, "baseline": str,
   "baseline_value": float, "ratio": float, "goal": str or None}

`value` is ours, `baseline_value` the peer's (or the floor's), both in
`unit` with higher = better; `ratio` = value / baseline_value. Measurements
without a baseline (e.g. peak memory, where lower is better) put the peer in
the baseline as well and say so in the unit; the `goal` text says which way
is good.
"""
import json
import os
import platform
from typing import Dict, List, Optional, Sequence

import numpy as np


def result(name: str, unit: str, value: float, baseline: str,
           baseline_value: float, goal: Optional[str] = None,
           goal_ratio: Optional[float] = None, **extra) -> Dict:
  """One comparison in the common format.

  Args:
    name: what is measured (ours).
    unit: unit of `value` and `baseline_value`.
    value: our figure.
    baseline: what we compare against.
    baseline_value: its figure, in the same unit.
    goal: the goal as text (e.g. ">= 2.5x"), None if there is none.
    goal_ratio: the goal as a minimum ratio, to mark it met or missed.
    **extra: more fields (e.g. thread counts), kept in the JSON.

  Returns:
    dict with name, unit, value, baseline, baseline_value, ratio, goal,
    goal_met (None without `goal_ratio`) and `extra`'s fields.
  """
  value, baseline_value = float(value), float(baseline_value)
  if not (np.isfinite(value) and np.isfinite(baseline_value)) or (
      baseline_value <= 0):
    raise ValueError(f"{name}: need finite figures and a positive baseline, "
                     f"got {value} vs {baseline_value}")
  ratio = value / baseline_value
  return dict(name=name, unit=unit, value=round(value, 4), baseline=baseline,
              baseline_value=round(baseline_value, 4), ratio=round(ratio, 3),
              goal=goal,
              goal_met=None if goal_ratio is None else bool(
                  ratio >= goal_ratio),
              **extra)


def machine_info() -> Dict:
  """CPU model and core counts from /proc/cpuinfo, load, Python/TF/torch."""
  model, logical, cores_per_socket = None, 0, set()
  physical = set()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      block = {}
      for line in f.read().splitlines() + [""]:
        if not line.strip():
          if "processor" in block:
            logical += 1
            model = model or block.get("model name")
            physical.add((block.get("physical id"), block.get("core id")))
            cores_per_socket.add(block.get("cpu cores"))
          block = {}
          continue
        key, _, value = line.partition(":")
        block[key.strip()] = value.strip()
  except OSError:
    pass
  available = (len(os.sched_getaffinity(0))
               if hasattr(os, "sched_getaffinity") else os.cpu_count())
  return dict(cpu_model=model or platform.processor() or "unknown",
              logical_cpus=logical or os.cpu_count(),
              physical_cores=len(physical) if physical else None,
              cores_available=available,
              load_average=[round(x, 2) for x in os.getloadavg()]
              if hasattr(os, "getloadavg") else None)


def write_json(results: Sequence[Dict], path: str):
  """`results` as a JSON list (the issue's format plus extra fields)."""
  for r in results:
    missing = {"name", "unit", "value", "baseline", "baseline_value",
               "ratio", "goal"} - set(r)
    if missing:
      raise ValueError(f"Result {r.get('name')!r} lacks {sorted(missing)}")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(list(results), f, indent=1)
    f.write("\n")


def _number(x: float) -> str:
  if abs(x) >= 100:
    return f"{x:,.0f}"
  if abs(x) >= 10:
    return f"{x:.1f}"
  return f"{x:.3g}"


def markdown_table(results: Sequence[Dict], machine: Dict,
                   notes: Sequence[str] = ()) -> str:
  """A Markdown section: machine line, one table row per result, notes."""
  lines = [
      f"Machine: {machine['cpu_model']}, {machine['logical_cpus']} logical "
      f"CPUs ({machine.get('physical_cores') or '?'} physical cores), "
      f"{machine['cores_available']} available to the benchmark; load "
      f"average at the end {machine.get('load_average')}.",
      "",
      "| measurement | unit | ours | baseline | baseline value | ratio | "
      "goal |",
      "|---|---|---|---|---|---|---|",
  ]
  for r in results:
    goal = r.get("goal") or ""
    if r.get("goal_met") is not None:
      goal += " ✓" if r["goal_met"] else " ✗"
    lines.append(
        f"| {r['name']} | {r['unit']} | {_number(r['value'])} | "
        f"{r['baseline']} | {_number(r['baseline_value'])} | "
        f"{r['ratio']:.2f}× | {goal} |")
  if notes:
    lines.append("")
    lines.extend(f"- {n}" for n in notes)
  return "\n".join(lines) + "\n"


def write_markdown(results: Sequence[Dict], path: str, machine: Dict,
                   notes: Sequence[str] = ()):
  with open(path, "w", encoding="utf-8") as f:
    f.write("# Benchmark results (`make bench`)\n\n")
    f.write(markdown_table(results, machine, notes))


def collect(groups: Sequence[List[Dict]]) -> List[Dict]:
  return [r for group in groups for r in group]
