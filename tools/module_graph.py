# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""The top-level module graph of official/align, drawn from its imports.

  python tools/module_graph.py              # Markdown with a Mermaid graph
  python tools/module_graph.py --check      # exit 1 on a layering back-edge

Every `import` and `from ... import` of an `official.align` module in
official/align/**/*.py (module level or inside functions, read with `ast`)
is an edge between the importer's node and the imported one. A node is a
top-level module or subpackage (`run_dir`, `serving`, ...); `checkpoints`
is drawn module by module (`checkpoints.compat` sits below `run_dir`, the
converter above it). Layering: no module of `INFERENCE_SIDE` reaches a node
of `TRAINING` through the graph.
"""
import ast
import collections
import os
import sys
from typing import Dict, Iterable, Set

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "official", "align")
PREFIX = "official.align"
PER_MODULE = ("checkpoints",)
TRAINING = frozenset(("runtime", "tasks", "train", "train_lib",
                      "optimization", "demo"))
INFERENCE_SIDE = frozenset(("serving", "inference", "evaluation", "search",
                            "run_dir", "modeling", "preprocessing",
                            "dataloaders", "checkpoints.compat",
                            "checkpoints.hf_align"))


def node_of(module: str) -> str:
  """`official.align.a.b.c` → "a" (or "a.b" for `PER_MODULE` packages)."""
  parts = module[len(PREFIX) + 1:].split(".")
  if parts[0] in PER_MODULE and len(parts) > 1:
    return ".".join(parts[:2])
  return parts[0]


def _module_name(path: str) -> str:
  relative = os.path.relpath(path, os.path.dirname(os.path.dirname(PACKAGE)))
  name = relative[:-3].replace(os.sep, ".")
  return name[:-len(".__init__")] if name.endswith(".__init__") else name


def _imports(tree: ast.AST, module: str) -> Iterable[str]:
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name
    elif isinstance(node, ast.ImportFrom) and node.module:
      base = node.module
      if node.level:  # Relative imports (none today), resolved anyway.
        base = ".".join(module.split(".")[:-node.level] + [node.module])
      for alias in node.names:
        full = f"{base}.{alias.name}"
        # `from package import module` imports the module.
        yield full if _exists(full) else base


def edges() -> Dict[str, Set[str]]:
  """{node: nodes it imports} over official/align (self-edges dropped)."""
  graph = collections.defaultdict(set)
  for root, _, files in os.walk(PACKAGE):
    for name in sorted(files):
      if not name.endswith(".py"):
        continue
      path = os.path.join(root, name)
      module = _module_name(path)
      if module == PREFIX:
        continue
      with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
      source = node_of(module)
      graph.setdefault(source, set())
      for imported in _imports(tree, module):
        if not imported.startswith(PREFIX + ".") or imported == PREFIX:
          continue
        target = node_of(imported)
        if target != source and _exists(imported):
          graph[source].add(target)
  return dict(graph)


def _exists(module: str) -> bool:
  """Whether `module` is a module or package of ours (not a name in one)."""
  path = os.path.join(os.path.dirname(os.path.dirname(PACKAGE)),
                      *module.split("."))
  return os.path.isfile(path + ".py") or os.path.isdir(path)


def reachable(graph: Dict[str, Set[str]], start: str) -> Set[str]:
  seen, todo = set(), [start]
  while todo:
    for target in graph.get(todo.pop(), ()):
      if target not in seen:
        seen.add(target)
        todo.append(target)
  return seen


def back_edges(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
  """{inference-side node: training nodes it reaches}."""
  out = {}
  for node in sorted(INFERENCE_SIDE & set(graph)):
    bad = reachable(graph, node) & TRAINING
    if bad:
      out[node] = bad
  return out


def markdown(graph: Dict[str, Set[str]]) -> str:
  lines = ["# Module graph of official/align", "",
           "Drawn by `python tools/module_graph.py > docs/module_graph.md` "
           "from the imports (ast). An arrow A --> B: A imports B. Training "
           "nodes are " + ", ".join(f"`{n}`" for n in sorted(TRAINING)) +
           "; `python tools/module_graph.py --check` (and "
           "tests/layering_test.py) fail if serving, inference, evaluation, "
           "search, the run dir or the model reach one of them.", "",
           "```mermaid", "graph TD"]
  for source in sorted(graph):
    for target in sorted(graph[source]):
      lines.append(f"  {source.replace('.', '_')}[{source}] --> "
                   f"{target.replace('.', '_')}[{target}]")
  lines += ["```", "", "| module | imports |", "| --- | --- |"]
  for source in sorted(graph):
    lines.append(f"| {source} | {', '.join(sorted(graph[source])) or '-'} |")
  return "\n".join(lines) + "\n"


def main(argv) -> int:
  graph = edges()
  if "--check" in argv:
    bad = back_edges(graph)
    for node, targets in bad.items():
      print(f"{node} reaches training code: {sorted(targets)}")
    return 1 if bad else 0
  sys.stdout.write(markdown(graph))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
