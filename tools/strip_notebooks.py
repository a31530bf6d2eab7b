#!/usr/bin/env python3
"""Strips outputs from Jupyter notebooks, so git holds only their source.

  python tools/strip_notebooks.py                  # colab/*.ipynb, in place
  python tools/strip_notebooks.py a.ipynb b.ipynb  # given notebooks
  python tools/strip_notebooks.py --check          # exit 1 if any has outputs

Clears every code cell's outputs and execution count, drops the run-time
cell metadata that Jupyter, Colab and nbclient record (execution timings,
collapsed/scrolled state, Colab's output settings) and the notebook's widget
state. Cell tags (e.g. `parameters`) and ids are kept. Writes with
`nbformat`'s canonical layout (1-space indent, sorted keys).
"""
import argparse
import glob
import os
import sys
from typing import List

import nbformat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATTERN = os.path.join(REPO, "colab", "*.ipynb")
# Cell metadata written by running or viewing a notebook.
RUNTIME_CELL_METADATA = ("execution", "collapsed", "scrolled", "outputId",
                         "executionInfo", "colab")
RUNTIME_NOTEBOOK_METADATA = ("widgets",)


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
  """Removes outputs and run-time metadata from `nb` (in place); returns it."""
  for cell in nb.cells:
    for key in RUNTIME_CELL_METADATA:
      cell.metadata.pop(key, None)
    if cell.cell_type == "code":
      cell.outputs = []
      cell.execution_count = None
  for key in RUNTIME_NOTEBOOK_METADATA:
    nb.metadata.pop(key, None)
  return nb


def stripped_text(path: str) -> str:
  """The canonical text of the notebook at `path` without outputs."""
  with open(path, encoding="utf-8") as f:
    nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
  return nbformat.writes(strip(nb)) + "\n"


def main(argv: List[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("notebooks", nargs="*",
                      help="notebooks to strip (default: colab/*.ipynb)")
  parser.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 if a notebook has outputs "
                      "or run-time metadata")
  args = parser.parse_args(argv)
  paths = args.notebooks or sorted(glob.glob(DEFAULT_PATTERN))
  if not paths:
    parser.error(f"no notebooks match {DEFAULT_PATTERN}")
  dirty = []
  for path in paths:
    with open(path, encoding="utf-8") as f:
      current = f.read()
    clean = stripped_text(path)
    if clean == current:
      continue
    dirty.append(path)
    if not args.check:
      with open(path, "w", encoding="utf-8") as f:
        f.write(clean)
  for path in dirty:
    print(f"{'not stripped' if args.check else 'stripped'}: {path}")
  return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
