# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""The sharded index at 1M realistic embeddings: recall, speed, bytes.

Embeddings: the demo model's (the `tests/trained_demo.py` recipe: tiny
config, 32-d embeddings, 600 steps on a generated world at 32 px, ~45 s;
or `--hub_dir` of another export with its `--world_dir`) image embeddings
of the world's 2,480 images, each copied with noise until there are
`--num_vectors` rows: row i = normalize(e[i mod 2480] + s g / sqrt(d)),
g standard normal. The noise is fitted to the data: s makes a copy's
cosine to its source the median cosine of a world image to its nearest
other image (copies spread as far as real neighbours do). Queries are the
model's text embeddings of the world's eval captions (text -> image search).

Ground truth is exact float32 search over all rows (`exact_search.exact_top_k`).
For each storage option (exact or ScaNN; float32 or int8), in one shard and
in several, the rows report

  recall@10         |top-10 ∩ exact top-10| / 10, over 200 queries.
  queries/s         batched (200 queries per call) and single (one query
                    per call), against exact float32 search on one shard
                    measured the same way in this run.
  bytes per vector  the saved index's files per vector (embeddings, scales,
                    ScaNN's codes and re-ranking copy), ids not included.
  latency           ms per single query against the shard count (1, 2, 4,
                    8 exact shards; 1 and 4 ScaNN shards; shards are
                    searched one after the other in one process).

  .venv/bin/python benchmarks/sharded_index.py [--num_vectors=1000000]
      [--hub_dir=... --world_dir=...]

`make bench` runs it at 1M: 217 s on 2 cores at load 5 (training the demo
~45 s, ScaNN builds ~40 s, the rest exact search and queries).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
for path in (REPO_ROOT, os.path.join(REPO_ROOT, "tests")):
  if path not in sys.path:
    sys.path.insert(0, path)

from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
from official.align.search import exact_search  # pylint: disable=g-import-not-at-top
from official.align.search import index as index_lib  # pylint: disable=g-import-not-at-top
from official.align.search import sharded_index  # pylint: disable=g-import-not-at-top

TOP_K = 10
GOAL_RECALL = 0.95
NUM_QUERIES = 200
NUM_SINGLE = 50
EXACT_SHARD_COUNTS = (1, 2, 4, 8)
SCANN_SHARD_COUNTS = (1, 4)
# Tuned at 1M on these embeddings (recall@10 of one shard, batched q/s):
# 20 of 1000 leaves, 100 re-ranked: 0.63, 28k; 50 leaves, 1000 re-ranked:
# 0.92, 8.9k; 100 leaves, 1000: 0.986, 5.5k; 200 leaves, 2000: 1.0, 3.6k.
# Each world image has ~400 near-identical copies at 1M, spread over many
# leaves, so a query must visit ~10% of them.
SCANN_CONFIG = index_lib.ScannConfig(
    num_leaves=1000, leaves_to_search=100, dims_per_block=2,
    reorder_num_neighbors=1000, training_sample_size=100_000)


def world_embeddings(hub_dir: str, world_dir: str):
  """(image float32 [n, d], caption-query float32 [m, d]) unit rows."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
  embedder = loaders.from_hub_dir(hub_dir)
  jpegs, captions = [], []
  for split in ("train", "eval"):
    files = sorted(tf.io.gfile.glob(os.path.join(world_dir,
                                                 f"{split}-*.tfrecord")))
    for record in tf.data.TFRecordDataset(files):
      example = tf.train.Example.FromString(record.numpy())
      jpegs.append(example.features.feature["jpg"].bytes_list.value[0])
      if split == "eval":
        captions.append(
            example.features.feature["txt"].bytes_list.value[0].decode())
  images = embedder.embed_image_bytes(jpegs)
  texts = embedder.embed_texts(sorted(set(captions)))
  return images.astype(np.float32), texts.astype(np.float32)


def noise_scale(images: np.ndarray) -> Tuple[float, float]:
  """(s, c): c the median nearest-other-image cosine, s the noise scale
  giving a copy cosine c to its source (c = 1 / sqrt(1 + s^2))."""
  cos = images @ images.T
  np.fill_diagonal(cos, -np.inf)
  nearest = float(np.median(cos.max(axis=1)))
  nearest = min(nearest, 0.999)
  return float(np.sqrt(1.0 / nearest**2 - 1.0)), nearest


def noisy_copies(images: np.ndarray, count: int, scale: float,
                 seed: int = 0, chunk: int = 200_000) -> np.ndarray:
  """float32 [count, d]: row i = normalize(images[i % n] + noise)."""
  rng = np.random.default_rng(seed)
  n, dim = images.shape
  out = np.empty([count, dim], np.float32)
  for start in range(0, count, chunk):
    rows = np.arange(start, min(count, start + chunk))
    block = rng.standard_normal((len(rows), dim), dtype=np.float32)
    block *= scale / np.sqrt(dim)
    block += images[rows % n]
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    out[rows] = block
  return out


def dir_bytes(path: str, exclude=(index_lib.IDS,)) -> int:
  total = 0
  for root, _, files in os.walk(path):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                 if f not in exclude)
  return total


def _timed(fn, repeats: int = 2):
  best, out = float("inf"), None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    best = min(best, time.perf_counter() - start)
  return best, out


def speeds(index, queries: np.ndarray) -> Dict:
  """Batched queries/s, single queries/s, p50 single latency (ms)."""
  index.search_indices(queries[:4], TOP_K)  # Warm-up.
  batch_s, (found, _) = _timed(lambda: index.search_indices(queries, TOP_K))
  single = queries[:NUM_SINGLE]
  latencies = []
  for _ in range(2):
    for q in single:
      start = time.perf_counter()
      index.search_indices(q[None], TOP_K)
      latencies.append(time.perf_counter() - start)
  return dict(batch_qps=len(queries) / batch_s,
              single_qps=1.0 / np.mean(latencies),
              p50_ms=1000 * float(np.median(latencies)), found=found)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
  return float(np.mean([len(set(a) & set(b)) / TOP_K
                        for a, b in zip(found, truth)]))


def measure(num_vectors: int, hub_dir: Optional[str] = None,
            world_dir: Optional[str] = None) -> Dict:
  """Every option's figures (see the module docstring)."""
  with tempfile.TemporaryDirectory() as work_dir:
    if hub_dir is None:
      import trained_demo  # pylint: disable=g-import-not-at-top
      demo = trained_demo.build_trained_demo(os.path.join(work_dir, "demo"))
      hub_dir, world_dir = demo.export_dir, demo.world_dir
    images, texts = world_embeddings(hub_dir, world_dir)
    scale, nearest = noise_scale(images)
    database = noisy_copies(images, num_vectors, scale)
    rng = np.random.default_rng(1)
    queries = texts[rng.choice(len(texts), min(NUM_QUERIES, len(texts)),
                               replace=False)]
    truth, _ = exact_search.exact_top_k(database, queries, TOP_K)
    ids = [str(i) for i in range(num_vectors)]
    options = [("brute_force", "float32", n) for n in EXACT_SHARD_COUNTS]
    options += [("brute_force", "int8", 1)]
    options += [("scann", "float32", n) for n in SCANN_SHARD_COUNTS]
    options += [("scann", "int8", 1)]
    out = []
    for kind, storage, shards in options:
      start = time.perf_counter()
      index = sharded_index.ShardedIndex.build(
          database, ids, vectors_per_shard=-(-num_vectors // shards),
          kind=kind, storage=storage, scann_config=SCANN_CONFIG)
      build_s = time.perf_counter() - start
      saved = os.path.join(work_dir, "index")
      index.save(saved, overwrite=True)
      size = dir_bytes(saved)
      m = speeds(index, queries)
      row = dict(kind=kind, storage=storage, shards=shards,
                 recall=recall(m.pop("found"), truth),
                 bytes_per_vector=size / num_vectors,
                 build_seconds=build_s, **m)
      print(f"{kind:11s} {storage:7s} {shards} shard(s): recall@10 "
            f"{row['recall']:.3f} | {row['batch_qps']:.0f} q/s batched, "
            f"{row['single_qps']:.0f} q/s single (p50 {row['p50_ms']:.2f} "
            f"ms) | {row['bytes_per_vector']:.1f} B/vector | build "
            f"{build_s:.0f} s", flush=True)
      out.append(row)
      del index
  return dict(rows=out, count=num_vectors, dim=database.shape[1],
              world_images=len(images), queries=len(queries),
              noise_scale=scale, nearest_cosine=nearest)


def to_results(m: Dict) -> List[Dict]:
  """Common-format rows (`benchmarks/results.py`)."""
  size = (f"{m['count'] / 1e6:g}M" if m["count"] >= 10**6
          else f"{m['count'] // 1000}k")
  base = next(r for r in m["rows"] if r["kind"] == "brute_force"
              and r["storage"] == "float32" and r["shards"] == 1)
  extra = dict(dim=m["dim"], world_images=m["world_images"],
               noise_scale=round(m["noise_scale"], 3),
               nearest_cosine=round(m["nearest_cosine"], 3),
               load_average=round(os.getloadavg()[0], 2))
  results = []
  for r in m["rows"]:
    name = (f"sharded_index/demo_{size}x{m['dim']}/{r['kind']}_"
            f"{r['storage']}_{r['shards']}shard")
    facts = dict(extra, build_seconds=round(r["build_seconds"], 1),
                 p50_ms=round(r["p50_ms"], 3),
                 bytes_per_vector=round(r["bytes_per_vector"], 2))
    if r is not base:
      results.append(results_lib.result(
          f"{name}/recall@10", "recall@10", r["recall"],
          "exact float32 search", 1.0, goal=f">= {GOAL_RECALL}",
          goal_ratio=GOAL_RECALL, **facts))
    results.append(results_lib.result(
        f"{name}/queries_per_s_batched", "queries/s", r["batch_qps"],
        f"exact float32, 1 shard, {m['queries']} queries per call",
        base["batch_qps"], **facts))
    results.append(results_lib.result(
        f"{name}/queries_per_s_single", "queries/s", r["single_qps"],
        "exact float32, 1 shard, one query per call", base["single_qps"],
        **facts))
    results.append(results_lib.result(
        f"{name}/bytes_per_vector", "bytes per vector (lower is better)",
        r["bytes_per_vector"], "float32 rows", 4.0 * m["dim"], **facts))
  return results


def run(num_vectors: int = 1_000_000, hub_dir: Optional[str] = None,
        world_dir: Optional[str] = None) -> List[Dict]:
  m = measure(num_vectors, hub_dir, world_dir)
  print(f"{m['count']} vectors of {m['dim']} dims: noisy copies of "
        f"{m['world_images']} demo-world image embeddings (noise scale "
        f"{m['noise_scale']:.3f}: cosine to source {m['nearest_cosine']:.3f})"
        f", {m['queries']} caption queries", flush=True)
  return to_results(m)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_vectors", type=int, default=1_000_000)
  parser.add_argument("--hub_dir", default=None)
  parser.add_argument("--world_dir", default=None)
  args = parser.parse_args(argv)
  start = time.perf_counter()
  rows = run(args.num_vectors, args.hub_dir, args.world_dir)
  print(f"total {time.perf_counter() - start:.0f} s, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
  print(json.dumps(rows))


if __name__ == "__main__":
  main()
