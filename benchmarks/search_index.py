# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""ScaNN index vs exact search: recall@10 and queries per second.

On `--num_vectors` (1M) unit vectors of size 640 (the B7 embedding size):

  uniform:    i.i.d. uniformly random directions, queries likewise (the
              issue's setting).
  clustered:  directions around `--num_clusters` random centres (cosine to
              the centre about 0.7, like embeddings of a real collection),
              queries drawn the same way.

For each, the ground truth is exact search (`exact_search.exact_top_k`: one
BLAS matrix product per 64k rows, all queries at once), and the index is the
`SearchIndex` ScaNN searcher with that dataset's settings below. Reported:

  recall@10                       |ScaNN top-10 ∩ exact top-10| / 10.
  queries/s, batched              all queries in one call: ScaNN
                                  `search_batched` vs the exact matrix
                                  product (BLAS on all cores).
  queries/s, one at a time        a query per call (interactive search):
                                  ScaNN `search` vs exact matrix-vector
                                  product + partial sort.

The goal (issue 6) is recall >= 0.95 at >= 20x exact search's queries/s.

Uniformly random vectors in 640 dimensions have no neighbourhood structure
(every point's similarity to a query is ~N(0, 1/640), the top 10 of 1M sit
barely above the rest), so partitioning cannot skip data without losing
neighbours; that dataset runs ScaNN without a tree (quantized brute force +
exact re-ranking), which is the fastest configuration with recall >= 0.95
found on it. The clustered dataset runs ScaNN's tree.

  .venv/bin/python benchmarks/search_index.py [--num_vectors=1000000]
      [--datasets=uniform,clustered]

The command line defaults to the issue's 1M vectors (building ScaNN over 1M
takes minutes per dataset on 2 cores); `make bench` (`run()`) uses
`BENCH_NUM_VECTORS` so the whole suite stays within its 15 minutes.

Prints a table and one JSON line (`run()` returns the same list in the
`benchmarks/results.py` format).
"""
import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Dict, List, Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
  sys.path.insert(0, os.path.dirname(HERE))

from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
from official.align.search import exact_search  # pylint: disable=g-import-not-at-top
from official.align.search import index as index_lib  # pylint: disable=g-import-not-at-top

DIM = 640
TOP_K = 10
GOAL_RECALL = 0.95
GOAL_SPEEDUP = 20.0
# `make bench`'s size; the issue's 1M is the command line's default.
BENCH_NUM_VECTORS = 100_000

# Tuned on this machine (see the module docstring and README).
SCANN_CONFIGS = {
    "uniform": index_lib.ScannConfig(
        num_leaves=1, dims_per_block=2, reorder_num_neighbors=200,
        anisotropic_quantization_threshold=0.2,
        training_sample_size=50_000),
    "clustered": index_lib.ScannConfig(
        num_leaves=1000, leaves_to_search=12, dims_per_block=2,
        reorder_num_neighbors=100, anisotropic_quantization_threshold=0.2,
        training_sample_size=100_000),
}


def unit_vectors(count: int, dim: int, rng: np.random.Generator,
                 centres: np.ndarray = None, spread: float = 1.0,
                 chunk: int = 100_000) -> np.ndarray:
  """float32 [count, dim] unit rows: uniform, or around random `centres`.

  With centres, a row is normalize(centre + spread * g / sqrt(dim)), g
  standard normal (cosine to its centre about 1 / sqrt(1 + spread^2)).
  """
  out = np.empty([count, dim], np.float32)
  for start in range(0, count, chunk):
    n = min(chunk, count - start)
    block = rng.standard_normal((n, dim), dtype=np.float32)
    if centres is not None:
      block *= spread / np.sqrt(dim)
      block += centres[rng.integers(0, len(centres), n)]
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    out[start:start + n] = block
  return out


def make_dataset(name: str, count: int, num_queries: int, num_clusters: int,
                 seed: int = 0):
  """(database float32 [count, DIM], queries float32 [num_queries, DIM])."""
  rng = np.random.default_rng(seed)
  centres = None
  if name == "clustered":
    centres = unit_vectors(num_clusters, DIM, rng)
  elif name != "uniform":
    raise ValueError(f"Unknown dataset {name!r}.")
  return (unit_vectors(count, DIM, rng, centres),
          unit_vectors(num_queries, DIM, rng, centres))


def _timed(fn, repeats: int = 1):
  """(seconds per call, last result); best of `repeats`."""
  best, out = float("inf"), None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - start)
  return best, out


def measure(name: str, count: int, num_queries: int, num_single: int,
            num_clusters: int) -> Dict:
  """Builds the index on one dataset and measures both searches."""
  t0 = time.perf_counter()
  database, queries = make_dataset(name, count, num_queries, num_clusters)
  gen_seconds = time.perf_counter() - t0
  # Exact search, all queries at once (also the ground truth).
  exact_batch_s, (truth, _) = _timed(
      lambda: exact_search.exact_top_k(database, queries, TOP_K))
  single = queries[:num_single]
  exact_single_s, _ = _timed(lambda: [
      exact_search.exact_top_k(database, q[None], TOP_K) for q in single])

  t0 = time.perf_counter()
  index = index_lib.SearchIndex.build(
      database, range(count), kind="scann",
      scann_config=SCANN_CONFIGS[name])
  build_seconds = time.perf_counter() - t0
  index.search_indices(queries[:8], TOP_K)  # Warm-up.
  scann_batch_s, (found, _) = _timed(
      lambda: index.search_indices(queries, TOP_K), repeats=2)
  scann_single_s, _ = _timed(lambda: [
      index.search_indices(q, TOP_K) for q in single], repeats=2)
  recall = float(np.mean([len(set(a) & set(b)) / TOP_K
                          for a, b in zip(found, truth)]))
  return dict(
      dataset=name, count=count, dim=DIM, num_queries=num_queries,
      recall=recall,
      exact_batch_qps=num_queries / exact_batch_s,
      scann_batch_qps=num_queries / scann_batch_s,
      exact_single_qps=num_single / exact_single_s,
      scann_single_qps=num_single / scann_single_s,
      build_seconds=build_seconds, generate_seconds=gen_seconds,
      config=dataclasses.asdict(index.scann_config))


def to_results(m: Dict) -> List[Dict]:
  """The common-format rows of one `measure` output."""
  size = f"{m['count'] // 1000}k" if m["count"] < 10**6 else (
      f"{m['count'] / 1e6:g}M")
  prefix = f"search_index/{m['dataset']}_{size}x{m['dim']}"
  extra = dict(build_seconds=round(m["build_seconds"], 1),
               scann_config=m["config"],
               load_average=round(os.getloadavg()[0], 2))
  return [
      results_lib.result(
          f"{prefix}/recall@10", "recall@10", m["recall"],
          "exact search", 1.0, goal=f">= {GOAL_RECALL}",
          goal_ratio=GOAL_RECALL, **extra),
      results_lib.result(
          f"{prefix}/queries_per_s_batched", "queries/s",
          m["scann_batch_qps"],
          f"exact search, {m['num_queries']} queries per BLAS matmul",
          m["exact_batch_qps"], goal=f">= {GOAL_SPEEDUP:g}x",
          goal_ratio=GOAL_SPEEDUP, recall=round(m["recall"], 4)),
      results_lib.result(
          f"{prefix}/queries_per_s_single", "queries/s",
          m["scann_single_qps"], "exact search, one query per call",
          m["exact_single_qps"], goal=f">= {GOAL_SPEEDUP:g}x",
          goal_ratio=GOAL_SPEEDUP, recall=round(m["recall"], 4)),
  ]


def run(num_vectors: int = BENCH_NUM_VECTORS, datasets: Sequence[str] = (
    "uniform", "clustered"), num_queries: int = 200, num_single: int = 20,
        num_clusters: int = 1000) -> List[Dict]:
  """Measures every dataset; returns the rows (see the module docstring)."""
  rows = []
  for name in datasets:
    m = measure(name, num_vectors, num_queries, num_single, num_clusters)
    print(f"{name:9s} n={num_vectors} d={DIM}: recall@10 {m['recall']:.3f}"
          f" | batched q/s ScaNN {m['scann_batch_qps']:.0f} vs exact "
          f"{m['exact_batch_qps']:.1f} "
          f"({m['scann_batch_qps'] / m['exact_batch_qps']:.1f}x)"
          f" | single q/s ScaNN {m['scann_single_qps']:.1f} vs exact "
          f"{m['exact_single_qps']:.2f} "
          f"({m['scann_single_qps'] / m['exact_single_qps']:.1f}x)"
          f" | build {m['build_seconds']:.0f} s", flush=True)
    rows.extend(to_results(m))
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_vectors", type=int, default=1_000_000)
  parser.add_argument("--datasets", default="uniform,clustered")
  parser.add_argument("--num_queries", type=int, default=200)
  parser.add_argument("--num_single", type=int, default=20)
  parser.add_argument("--num_clusters", type=int, default=1000)
  args = parser.parse_args(argv)
  start = time.perf_counter()
  rows = run(args.num_vectors, args.datasets.split(","), args.num_queries,
             args.num_single, args.num_clusters)
  print(f"total {time.perf_counter() - start:.0f} s, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
  print(json.dumps(rows))


if __name__ == "__main__":
  main()
