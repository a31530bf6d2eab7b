# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Search page latency: 200 queries from 8 concurrent clients over HTTP.

The reference model (`configs/bench_reference.gin`, random weights) is
exported as `inference.export_reference` does, an exact index of
`NUM_ITEMS` random unit vectors of its embedding size is saved, and

  python -m official.align.search serve --index_dir=... --hub_dir=... \
      --port=0

runs in its own process on 127.0.0.1 (Waitress, 8 threads). Then, with 8
client threads (one `requests.Session` each) sending `QUERIES` requests in
all, as fast as answers come:

  text:   GET /api/search?text=...&top_k=24 (a 3-word text).
  image:  POST /api/search, a 128x128 JPEG and a text, top_k=24.

Reported per kind: p50 and p99 of the request latency seen by the client
(ms, lower is better) and queries/s. The baseline is the same queries in
this process through `search_lib.search`, one at a time (no HTTP, no
concurrency), in windows alternating with the HTTP ones: the ratio is what
HTTP plus 8 clients sharing the machine's cores add to one query. Any failed
request fails the benchmark. The loop is bounded (`QUERIES` requests per
kind) and talks to 127.0.0.1 only.

  python -m benchmarks.search_page [--queries=200 --clients=8]
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import concurrent.futures
import contextlib
import functools
import io
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Sequence

import numpy as np
from PIL import Image
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from benchmarks import inference  # pylint: disable=g-import-not-at-top
from benchmarks import reference  # pylint: disable=g-import-not-at-top
from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
from official.align.search import index as index_lib  # pylint: disable=g-import-not-at-top
from official.align.search import search_lib  # pylint: disable=g-import-not-at-top

NUM_ITEMS = 10_000
QUERIES = 200
CLIENTS = 8
TOP_K = 24
IMAGE_SIZE = 128
WARMUP = 5
WINDOWS = 4  # Alternating windows of HTTP and in-process queries.
SERVER_START_SECONDS = 300
URL_LINE = "Search page of "


def _texts(count: int) -> List[str]:
  """3-word texts from the reference vocabulary (`inference.write_vocab`)."""
  rng = np.random.default_rng(0)
  return [" ".join(f"w{i}" for i in rng.integers(0, 10000, 3))
          for _ in range(count)]


def _write_image(path: str):
  pixels = np.random.default_rng(0).integers(
      0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(path, "JPEG", quality=90)


@contextlib.contextmanager
def running_server(index_dir: str, hub_dir: str):
  """Runs `serve` in a subprocess; yields its URL (http://127.0.0.1:PORT/)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  process = subprocess.Popen(
      [sys.executable, "-m", "official.align.search", "serve",
       f"--index_dir={index_dir}", f"--hub_dir={hub_dir}", "--port=0"],
      cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=None, text=True)
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(line) for line in
                                   process.stdout], daemon=True).start()
  try:
    url = None
    deadline = time.monotonic() + SERVER_START_SECONDS
    while url is None:
      line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
      if line.startswith(URL_LINE):
        url = line.split(" on ", 1)[1].split()[0]
    yield url
  finally:
    process.terminate()
    try:
      process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      process.kill()


def _summary(latencies: Sequence[float], wall: float) -> Dict[str, float]:
  ms = 1e3 * np.asarray(latencies)
  return {"p50_ms": float(np.percentile(ms, 50)),
          "p99_ms": float(np.percentile(ms, 99)),
          "queries_per_s": len(latencies) / wall}


def measure_local(answer: Callable[[int], None],
                  numbers: Sequence[int]) -> List[float]:
  """Seconds of `answer(i)` for each i of `numbers`, one at a time."""
  latencies = []
  for i in numbers:
    begin = time.perf_counter()
    answer(i)
    latencies.append(time.perf_counter() - begin)
  return latencies


def measure_http(
    request: Callable[[requests.Session, int], requests.Response],
    numbers: Sequence[int], clients: int) -> List[float]:
  """Seconds of `request(session, i)` for each i of `numbers`, sent by
  `clients` threads at once (each its own session).

  Raises:
    RuntimeError: a request failed (naming its status and error).
  """

  def client(first: int):
    latencies = []
    with requests.Session() as session:
      for i in numbers[first::clients]:
        begin = time.perf_counter()
        response = request(session, i)
        latencies.append(time.perf_counter() - begin)
        if response.status_code != 200:
          raise RuntimeError(f"query {i}: HTTP {response.status_code} "
                             f"{response.text[:200]}")
        if response.json()["count"] != TOP_K:
          raise RuntimeError(f"query {i}: {response.json()['count']} results")
    return latencies

  with concurrent.futures.ThreadPoolExecutor(clients) as pool:
    return [t for part in pool.map(client, range(clients)) for t in part]


def interleaved(cases: Dict[str, Callable[[Sequence[int]], List[float]]],
                count: int, windows: int) -> Dict[str, Dict[str, float]]:
  """Runs each case on `count` queries in `windows` alternating windows (a
  shared machine's load then hits every case alike); summaries per case."""
  for run_case in cases.values():
    run_case(range(WARMUP))
  latencies = {name: [] for name in cases}
  walls = {name: 0.0 for name in cases}
  bounds = np.linspace(0, count, windows + 1).astype(int)
  for start, stop in zip(bounds, bounds[1:]):
    for name, run_case in cases.items():
      begin = time.perf_counter()
      latencies[name] += run_case(range(WARMUP + start, WARMUP + stop))
      walls[name] += time.perf_counter() - begin
  assert all(len(v) == count for v in latencies.values())
  return {name: _summary(latencies[name], walls[name]) for name in cases}


def measure(work_dir: str, queries: int = QUERIES, clients: int = CLIENTS,
            windows: int = WINDOWS) -> Dict[str, Dict]:
  """{"text"|"image": {"http": summary, "local": summary}}."""
  reference.parse_reference_config()
  export_dir = inference.export_reference(work_dir)
  embedder = loaders.from_hub_dir(export_dir)
  vectors = np.random.default_rng(0).standard_normal(
      (NUM_ITEMS, embedder.embed_dim)).astype(np.float32)
  index = index_lib.SearchIndex.build(
      vectors, [f"item-{i:05d}" for i in range(NUM_ITEMS)],
      kind="brute_force", metadata={"model": export_dir})
  index_dir = os.path.join(work_dir, "index")
  index.save(index_dir)
  image_path = os.path.join(work_dir, "query.jpg")
  _write_image(image_path)
  with open(image_path, "rb") as f:
    image = f.read()
  texts = _texts(queries + WARMUP)
  local = {
      "text": lambda i: search_lib.search(index, embedder, text=texts[i],
                                          top_k=TOP_K),
      "image": lambda i: search_lib.search(index, embedder, text=texts[i],
                                           image=image_path, top_k=TOP_K),
  }
  with running_server(index_dir, export_dir) as url:
    remote = {
        "text": lambda session, i: session.get(
            url + "api/search", params={"text": texts[i], "top_k": TOP_K},
            timeout=120),
        "image": lambda session, i: session.post(
            url + "api/search", data={"text": texts[i], "top_k": TOP_K},
            files={"image": ("query.jpg", io.BytesIO(image))}, timeout=120),
    }
    return {kind: interleaved({
        "local": functools.partial(measure_local, local[kind]),
        "http": functools.partial(measure_http, remote[kind],
                                  clients=clients),
    }, queries, windows) for kind in local}


def to_results(measured: Dict[str, Dict], queries: int,
               clients: int) -> List[Dict]:
  """Rows in the common result format (ours = over HTTP)."""
  extra = dict(queries=queries, clients=clients, index_items=NUM_ITEMS,
               top_k=TOP_K, load_average=round(os.getloadavg()[0], 2))
  what = {"text": "text query (GET)",
          "image": f"{IMAGE_SIZE}px image + text query (POST upload)"}
  rows = []
  for kind, m in measured.items():
    http, local = m["http"], m["local"]
    for stat in ("p50", "p99"):
      rows.append(results_lib.result(
          f"search page: {what[kind]}, {stat} latency, {clients} "
          "concurrent clients", "ms (lower is better)", http[f"{stat}_ms"],
          f"search_lib.search in-process, one at a time, {stat}",
          local[f"{stat}_ms"], goal=None, **extra))
    rows.append(results_lib.result(
        f"search page: {what[kind]}, throughput, {clients} concurrent "
        "clients", "queries/s", http["queries_per_s"],
        "search_lib.search in-process, one at a time",
        local["queries_per_s"], goal=None, **extra))
  return rows


def run(queries: int = QUERIES, clients: int = CLIENTS) -> List[Dict]:
  """The search page rows (see the module docstring)."""
  with tempfile.TemporaryDirectory() as work_dir:
    measured = measure(work_dir, queries, clients)
  for kind, m in measured.items():
    print(f"{kind}: HTTP p50 {m['http']['p50_ms']:.1f} ms, p99 "
          f"{m['http']['p99_ms']:.1f} ms, {m['http']['queries_per_s']:.1f} "
          f"q/s | in-process p50 {m['local']['p50_ms']:.1f} ms, p99 "
          f"{m['local']['p99_ms']:.1f} ms, "
          f"{m['local']['queries_per_s']:.1f} q/s", file=sys.stderr,
          flush=True)
  return to_results(measured, queries, clients)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--queries", type=int, default=QUERIES)
  parser.add_argument("--clients", type=int, default=CLIENTS)
  args = parser.parse_args(argv)
  for row in run(args.queries, args.clients):
    print(json.dumps(row), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
