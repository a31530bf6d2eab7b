"""Runs the colab/ notebooks headless with nbclient, parameters injected.

The kernel is this interpreter (`sys.executable`, i.e. the project's venv):
its kernelspec is written to a temporary directory with
`ipykernel.kernelspec.write_kernel_spec` and found through a
`KernelSpecManager` that looks only there, so no installed or system-wide
"python3" kernelspec can point the notebooks at another Python.
"""
import ast
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Sequence

from ipykernel import kernelspec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
import nbclient
import nbformat
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOTEBOOK_DIR = os.path.join(REPO, "colab")
KERNEL_NAME = "align-notebook-tests"
PARAMETERS_TAG = "parameters"
# Environment of the kernel process (on top of the inherited one).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
  """The one code cell tagged `parameters`.

  Raises:
    ValueError: no or several such cells.
  """
  cells = [c for c in nb.cells if c.cell_type == "code" and
           PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
  if len(cells) != 1:
    raise ValueError(f"Expected one cell tagged {PARAMETERS_TAG!r}, found "
                     f"{len(cells)}.")
  return cells[0]


def read_parameters(nb: nbformat.NotebookNode) -> Dict[str, Any]:
  """The parameters cell's `name = literal` assignments, in order.

  Raises:
    ValueError: the cell holds anything but assignments of literals.
  """
  values = {}
  for node in ast.parse(parameters_cell(nb).source).body:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and
            isinstance(node.targets[0], ast.Name)):
      raise ValueError("The parameters cell must hold only `name = literal` "
                       f"lines; found: {ast.unparse(node)}")
    try:
      values[node.targets[0].id] = ast.literal_eval(node.value)
    except ValueError:
      raise ValueError("Parameter values must be literals; found: "
                       f"{ast.unparse(node)}") from None
  return values


def inject_parameters(nb: nbformat.NotebookNode,
                      overrides: Dict[str, Any]) -> nbformat.NotebookNode:
  """Replaces the parameters cell's source with the merged assignments.

  Raises:
    KeyError: an override names no parameter of the notebook.
  """
  values = read_parameters(nb)
  unknown = sorted(set(overrides) - set(values))
  if unknown:
    raise KeyError(f"Not parameters of the notebook: {unknown}; it has "
                   f"{sorted(values)}.")
  values.update(overrides)
  parameters_cell(nb).source = "\n".join(
      f"{name} = {value!r}" for name, value in values.items())
  return nb


def _kernel_manager(kernel_dir: str) -> AsyncKernelManager:
  path = os.path.join(kernel_dir, KERNEL_NAME)
  # The kernel's IPython profile and connection file live in the temporary
  # directory too: nothing depends on a writable home directory.
  env = dict(KERNEL_ENV, IPYTHONDIR=os.path.join(kernel_dir, "ipython"))
  kernelspec.write_kernel_spec(path, overrides={
      "display_name": "ALIGN notebook tests", "env": env})
  return AsyncKernelManager(
      kernel_name=KERNEL_NAME,
      kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dir]),
      connection_file=os.path.join(kernel_dir, "connection.json"))


# Test-only cells around the notebook: the kernel's CPU time (user + sys,
# all threads) after every cell, printed as JSON at the end.
_CPU_SETUP = """
import resource as _align_resource
_align_cpu_seconds = []
def _align_record_cpu(result):
  usage = _align_resource.getrusage(_align_resource.RUSAGE_SELF)
  _align_cpu_seconds.append(usage.ru_utime + usage.ru_stime)
get_ipython().events.register("post_run_cell", _align_record_cpu)
"""
_CPU_REPORT = "import json as _align_json\nprint(_align_json.dumps(_align_cpu_seconds))"


def _client(name: str, overrides: Dict[str, Any], cwd: str,
            kernel_dir: str, cell_timeout: int) -> nbclient.NotebookClient:
  with open(os.path.join(NOTEBOOK_DIR, name)) as f:
    nb = nbformat.read(f, as_version=4)
  inject_parameters(nb, overrides)
  nb.cells.insert(0, nbformat.v4.new_code_cell(_CPU_SETUP.strip()))
  nb.cells.append(nbformat.v4.new_code_cell(_CPU_REPORT))
  client = nbclient.NotebookClient(
      nb, km=_kernel_manager(kernel_dir), timeout=cell_timeout,
      startup_timeout=300, allow_errors=False,
      resources={"metadata": {"path": cwd}})
  # nbclient shuts down only kernels of managers it created itself.
  client.owns_km = True
  return client


async def run_notebook_async(name: str, overrides: Dict[str, Any], cwd: str,
                             cell_timeout: int = 600,
                             output_path: Optional[str] = None
                             ) -> Dict[str, Any]:
  """Executes colab/`name` top to bottom in a fresh kernel.

  Args:
    name: notebook file name in colab/.
    overrides: parameter values replacing the defaults.
    cwd: working directory of the kernel.
    cell_timeout: seconds per cell.
    output_path: if given, the executed notebook is written there (also
      when a cell fails).

  Returns:
    {"notebook": the executed notebook (its own cells only), "seconds":
    wall time, "cpu_seconds": the kernel's CPU time, "cell_cpu_seconds":
    CPU time of each of the notebook's code cells}.

  Raises:
    nbclient.exceptions.CellExecutionError: a cell raised (the message
      holds the cell's source and traceback).
  """
  start = time.time()
  with tempfile.TemporaryDirectory(prefix="align_kernel_") as kernel_dir:
    client = _client(name, overrides, cwd, kernel_dir, cell_timeout)
    try:
      await client.async_execute()
    finally:
      if output_path:
        nbformat.write(client.nb, output_path)
  nb = client.nb
  report = nb.cells.pop()
  nb.cells.pop(0)
  cumulative = json.loads("".join(o.get("text", "") for o in report.outputs))
  return {"notebook": nb, "seconds": time.time() - start,
          "cpu_seconds": cumulative[-1],
          "cell_cpu_seconds": [float(d) for d in np.diff(cumulative)]}


async def run_notebooks_async(jobs: Sequence[Dict[str, Any]],
                              max_parallel: int) -> Dict[str, Any]:
  """Runs `run_notebook_async(**job)` for each job, `max_parallel` at once.

  Kernels are mostly single-threaded (imports, tracing, saving), so two at
  once use both cores of a small machine.

  Returns:
    {job["name"]: the result dict, or the exception the run raised}.
  """
  semaphore = asyncio.Semaphore(max_parallel)

  async def run(job):
    async with semaphore:
      try:
        return await run_notebook_async(**job)
      except Exception as e:  # pylint: disable=broad-except
        return e

  results = await asyncio.gather(*(run(job) for job in jobs))
  return {job["name"]: result for job, result in zip(jobs, results)}


def run_notebook(name: str, overrides: Dict[str, Any], cwd: str,
                 **kwargs) -> Dict[str, Any]:
  """Synchronous `run_notebook_async`."""
  return asyncio.run(run_notebook_async(name, overrides, cwd, **kwargs))


if __name__ == "__main__":
  # python tests/colab/notebook_runner.py NAME.ipynb OUT.ipynb key=value ...
  # (values are Python literals, or plain strings).
  def _value(text):
    try:
      return ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return text
  params = {k: _value(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
  result = run_notebook(sys.argv[1], params, cwd=os.getcwd(),
                        output_path=sys.argv[2])
  print(f"{sys.argv[1]}: {result['seconds']:.1f} s wall, kernel CPU "
        f"{result['cpu_seconds']:.1f} s")
  code = [c for c in result["notebook"].cells if c.cell_type == "code"]
  for cell, cpu in zip(code, result["cell_cpu_seconds"]):
    print(f"  {cpu:6.1f} s CPU  {cell.source.splitlines()[0][:60]}")
