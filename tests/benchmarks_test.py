"""Smoke test of the benchmark results path (figures are never asserted)."""
import json
import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
from benchmarks import run_all  # pylint: disable=g-import-not-at-top
from benchmarks import scaling  # pylint: disable=g-import-not-at-top


def test_trivial_case_writes_json_and_markdown(tmp_path):
  # A real (tiny) measurement: one replica's loss, 4 local rows of 16.
  small = scaling.time_loss(local_batch=4, global_batch=8, dim=4, repeats=1)
  large = scaling.time_loss(local_batch=4, global_batch=16, dim=4, repeats=1)
  row = results_lib.result("loss, global 8", "ms", small * 1e3,
                           "loss, global 16", large * 1e3, goal=">= 0x",
                           goal_ratio=0.0, local_batch=4)
  run_all.write_outputs([row], str(tmp_path), notes=["a note"])

  written = json.loads((tmp_path / "results.json").read_text())
  assert len(written) == 1
  assert set(written[0]) >= {"name", "unit", "value", "baseline",
                             "baseline_value", "ratio", "goal"}
  assert written[0]["ratio"] == pytest.approx(
      written[0]["value"] / written[0]["baseline_value"], rel=1e-2)
  assert written[0]["local_batch"] == 4
  table = (tmp_path / "results.md").read_text()
  assert "| loss, global 8 | ms |" in table
  assert "logical CPUs" in table and "- a note" in table


def test_bad_figures_raise_naming_the_row():
  with pytest.raises(ValueError, match="broken"):
    results_lib.result("broken", "pairs/s", 1.0, "peer", 0.0)
