"""Inference never loads training code; the module graph has no back-edge.

In a fresh process, importing every module of `official.align.serving`,
`official.align.evaluation` or `official.align.search` (and loading a run
dir through them) must leave every training module (the runtime, the
tasks, the optimizer wiring, train.py, the old train_lib, the demo)
unimported. tools/module_graph.py draws the graph from the imports; its
`--check` fails on a path from the inference side to training code.
"""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINING_MODULES = ("official.align.runtime", "official.align.tasks",
                    "official.align.train", "official.align.train_lib",
                    "official.align.optimization", "official.align.demo")

_SCRIPT = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.walk_packages(package.__path__,
                                               sys.argv[1] + ".")]
for name in names:
  importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(
    m for m in sys.modules if m.startswith("official.align"))}))
"""


@pytest.mark.parametrize("package", ["official.align.serving",
                                     "official.align.evaluation",
                                     "official.align.search"])
def test_inference_packages_load_no_training_module(package):
  import json  # pylint: disable=g-import-not-at-top
  result = subprocess.run([sys.executable, "-c", _SCRIPT, package],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert len(out["imported"]) >= 3, out  # The package's modules were loaded.
  training = [m for m in out["loaded"]
              if m in TRAINING_MODULES or m.startswith(
                  tuple(t + "." for t in TRAINING_MODULES))]
  assert not training, training


def test_module_graph_has_no_back_edge():
  sys.path.insert(0, os.path.join(REPO, "tools"))
  try:
    import module_graph  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.pop(0)
  graph = module_graph.edges()
  assert {"run_dir", "serving", "inference", "runtime"} <= set(graph)
  assert "run_dir" in graph["serving"] and "serving" in graph["inference"]
  assert "inference" in graph["evaluation"] and "inference" in graph["search"]
  assert not module_graph.back_edges(graph)
  # A back-edge is found: the check is not vacuous.
  graph["serving"] = graph["serving"] | {"runtime"}
  assert "runtime" in module_graph.back_edges(graph)["serving"]
  with open(os.path.join(REPO, "docs", "module_graph.md")) as f:
    assert f.read() == module_graph.markdown(module_graph.edges()), (
        "docs/module_graph.md is stale: python tools/module_graph.py > "
        "docs/module_graph.md")


_NO_RUNTIME_SCRIPT = """
import importlib, pkgutil, sys
from absl import flags
from tensorflow.python.eager import context
import official.align
for module in pkgutil.walk_packages(official.align.__path__, "official.align."):
  if not module.name.endswith("__main__"):
    for name in list(flags.FLAGS):  # Each CLI module defines its own flags.
      delattr(flags.FLAGS, name)
    importlib.import_module(module.name)
# Private, but the only handle on it: None until a tensor or op is made.
print("started" if context.context()._context_handle is not None else "idle")
"""


def test_importing_the_package_does_not_start_the_tensorflow_runtime():
  """A tensor made at import (a module-level `tf.constant`) starts TF's
  runtime, after which `MultiWorkerMirroredStrategy` can no longer configure
  its collective ops ("Collective ops must be configured at program
  startup"): every module of the package must import without one."""
  result = subprocess.run([sys.executable, "-c", _NO_RUNTIME_SCRIPT],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1] == "idle"
