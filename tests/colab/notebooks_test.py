"""The colab/ notebooks run top to bottom on a short-trained demo export.

Every notebook is executed headless (nbclient, one fresh kernel each, two at
a time) with its parameters cell replaced: the TF-Hub export, model and demo
world of the `trained_demo_export` session fixture, small inputs, figures
saved as PNG to a per-notebook directory, inline TensorBoard off. Any cell
error fails the notebook's test with the cell's traceback. The figures must
exist and not be blank. Static checks (no kernel) cover what a user sees in
git: no outputs, one parameters cell defaulting to the `make demo` outputs,
and a first code cell that installs the package only in Colab.
"""
import asyncio
import os
import re
import sys

import matplotlib.image
import nbclient
import nbformat
import numpy as np
import pytest

import notebook_runner  # pylint: disable=g-bad-import-order

REPO = notebook_runner.REPO
sys.path.insert(0, os.path.join(REPO, "tools"))
import strip_notebooks  # pylint: disable=g-import-not-at-top,g-bad-import-order

NOTEBOOKS = ("train_and_monitor.ipynb", "zero_shot.ipynb", "fine_tune.ipynb",
             "retrieval_and_search.ipynb")  # Longest first.
FIGURES = {
    "zero_shot.ipynb": ("zero_shot_top5",),
    "retrieval_and_search.ipynb": ("text_to_image", "image_plus_text",
                                   "similarity_heat_map"),
    "train_and_monitor.ipynb": ("training_curves", "reloaded_export_colours"),
    "fine_tune.ipynb": ("fine_tune_curves",),
}
DEMO_DEFAULTS = {"hub_dir": "runs/demo/export", "world_dir": "runs/demo/world"}


def _overrides(name, demo, work_dir):
  """Small-input parameters of notebook `name` on the fixture's demo."""
  common = dict(world_dir=demo.world_dir,
                figure_dir=os.path.join(work_dir, "figures"))
  if name == "zero_shot.ipynb":
    return dict(common, hub_dir=demo.export_dir, num_images=6,
                max_eval_images=240)
  if name == "retrieval_and_search.ipynb":
    return dict(common, hub_dir=demo.export_dir, num_images=48,
                num_heat_map=6,
                index_dir=os.path.join(work_dir, "image_index"))
  if name == "train_and_monitor.ipynb":
    return dict(common, model_dir=os.path.join(work_dir, "model"),
                hub_dir=os.path.join(work_dir, "export"),
                gin_files=[os.path.join(REPO, "configs", "demo.gin"),
                           os.path.join(REPO, "configs", "tiny.gin")],
                train_steps=20, batch_size=16, show_tensorboard=False)
  if name == "fine_tune.ipynb":
    return dict(common, hub_dir=demo.export_dir, num_examples=160,
                input_size=32, epochs=3, batch_size=32)
  raise KeyError(name)


@pytest.fixture(scope="module")
def executed(trained_demo_export, tmp_path_factory):
  """{notebook: (work_dir, run result or the exception it raised)}."""
  jobs, work_dirs = [], {}
  for name in NOTEBOOKS:
    work_dir = str(tmp_path_factory.mktemp(name.split(".")[0]))
    work_dirs[name] = work_dir
    jobs.append(dict(name=name, cwd=work_dir,
                     overrides=_overrides(name, trained_demo_export, work_dir),
                     output_path=os.path.join(work_dir, name)))
  results = asyncio.run(notebook_runner.run_notebooks_async(
      jobs, max_parallel=2))
  for name in NOTEBOOKS:
    result = results[name]
    if not isinstance(result, Exception):
      print(f"{name}: {result['seconds']:.1f} s")
  return {name: (work_dirs[name], results[name]) for name in NOTEBOOKS}


def _stdout(nb) -> str:
  return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs if o.get("name") == "stdout")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_errors(executed, name):
  _, result = executed[name]
  if isinstance(result, Exception):
    pytest.fail(f"{name} failed:\n{result}")
  errors = [o for c in result["notebook"].cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]
  assert not errors


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_figures_are_saved_and_not_blank(executed, name):
  work_dir, result = executed[name]
  if isinstance(result, Exception):
    pytest.skip(f"{name} did not run")
  figure_dir = os.path.join(work_dir, "figures")
  for figure in FIGURES[name]:
    path = os.path.join(figure_dir, f"{figure}.png")
    assert os.path.isfile(path), f"{name} did not save {figure}.png"
    pixels = matplotlib.image.imread(path)
    assert pixels.size and float(np.std(pixels)) > 0, f"{path} is blank"


def test_fine_tuning_lowers_the_training_loss(executed):
  _, result = executed["fine_tune.ipynb"]
  if isinstance(result, Exception):
    pytest.skip("fine_tune.ipynb did not run")
  match = re.search(r"training loss ([\d.]+) → ([\d.]+)",
                    _stdout(result["notebook"]))
  assert match, "fine_tune.ipynb printed no loss summary"
  assert float(match.group(2)) < float(match.group(1))


def test_train_notebook_exports_and_reloads(executed):
  work_dir, result = executed["train_and_monitor.ipynb"]
  if isinstance(result, Exception):
    pytest.skip("train_and_monitor.ipynb did not run")
  for module in ("image_encoder", "text_encoder", "text_preprocessor"):
    assert os.path.isdir(os.path.join(work_dir, "export", module))
  stdout = _stdout(result["notebook"])
  assert "step 20," in stdout
  assert re.search(r"zero-shot colour accuracy of the reloaded export on "
                   r"\d+ images: [\d.]+%", stdout)


def _read(name):
  with open(os.path.join(notebook_runner.NOTEBOOK_DIR, name)) as f:
    return nbformat.read(f, as_version=4)


def test_every_notebook_is_tested():
  on_disk = sorted(n for n in os.listdir(notebook_runner.NOTEBOOK_DIR)
                   if n.endswith(".ipynb"))
  assert on_disk == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
  path = os.path.join(notebook_runner.NOTEBOOK_DIR, name)
  nb = _read(name)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, (
          f"{name} has outputs: run `python tools/strip_notebooks.py`")
  with open(path) as f:
    assert f.read() == strip_notebooks.stripped_text(path), (
        f"{name} is not stripped: run `python tools/strip_notebooks.py`")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_default_to_the_demo_outputs(name):
  params = notebook_runner.read_parameters(_read(name))
  assert params["figure_dir"] is None
  assert params["world_dir"] == DEMO_DEFAULTS["world_dir"]
  if name != "train_and_monitor.ipynb":
    assert params["hub_dir"] == DEMO_DEFAULTS["hub_dir"]
  else:
    assert params["model_dir"].startswith("runs/")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_installs_only_in_colab(name):
  first = next(c for c in _read(name).cells if c.cell_type == "code")
  assert 'if "google.colab" in sys.modules:' in first.source
  assert re.search(r"^\s+!pip install", first.source, re.M)
  # Everything that installs is inside the Colab branch.
  for line in first.source.splitlines():
    if line.lstrip().startswith(("!", "%")):
      assert line.startswith("  "), line


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_loads_the_export_with_tf_hub(name):
  source = "\n".join(c.source for c in _read(name).cells)
  assert "hub.KerasLayer(" in source


def test_parameters_are_injected_by_replacing_the_cell():
  nb = nbformat.v4.new_notebook(cells=[
      nbformat.v4.new_code_cell("a = 1  # comment\nb = 'x'"),
  ])
  nb.cells[0].metadata["tags"] = ["parameters"]
  notebook_runner.inject_parameters(nb, {"b": "y"})
  assert nb.cells[0].source == "a = 1\nb = 'y'"
  with pytest.raises(KeyError, match="c"):
    notebook_runner.inject_parameters(nb, {"c": 2})
  nb.cells[0].source = "import os\na = 1"
  with pytest.raises(ValueError, match="import os"):
    notebook_runner.read_parameters(nb)


def test_kernel_is_this_interpreter(tmp_path):
  nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
      "import sys\nprint(sys.executable)")])
  kernel_dir = tmp_path / "kernels"
  kernel_dir.mkdir()
  km = notebook_runner._kernel_manager(str(kernel_dir))  # pylint: disable=protected-access
  client = nbclient.NotebookClient(nb, km=km, timeout=120,
                                   startup_timeout=300)
  client.owns_km = True  # Shut the kernel down at the end.
  client.execute()
  assert not km.has_kernel
  assert nb.cells[0].outputs[0]["text"].strip() == sys.executable


def test_sharded_index_answers_as_one_index(executed):
  _, result = executed["retrieval_and_search.ipynb"]
  if isinstance(result, Exception):
    pytest.skip("retrieval_and_search.ipynb did not run")
  out = _stdout(result["notebook"])
  assert "ShardedIndex: shards of [12, 12, 12, 12] images" in out
  assert "same ids and scores as one exact index: True" in out
  assert "int8: 36 bytes per vector (float32: 128)" in out
