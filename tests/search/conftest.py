"""The search page's shared fixture: a labelled gallery, its index, a server.

`search_page` (session scope) renders a gallery with the demo world's
generator at the trained fixture's image size and indexes it with the
fixture's export (`trained_demo_export`), once for all test workers, then
starts, one per worker,

  python -m official.align.search serve --index_dir=... --hub_dir=... \
      --port=0

as a subprocess (the real command line, default --host), shared by the API
and browser tests. The gallery is an eval split of seen colour-shape pairs
only, larger than the fixture's own (480 images with half from held-out
pairs: two blue circles and three red ones), so that a query can have a
top 8 of blue circles at all. Its only blue shapes are circles
(`_drop_blue_non_circles`): the fixture's 600-step model knows colours
(zero-shot top-1 by colour 0.95) but hardly shapes, and how little depends
on the CPU (top-1 by colour-shape pair 0.19 on one machine, 0.28 on
another, same seed), so blue squares among the candidates made "a blue
circle" pass on one machine and fail on the next. The page's behaviour is
what the browser test checks; shape retrieval by the real demo model is in
README's figures.
"""
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
from typing import Dict

import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GALLERY_SIZE = 1440  # 36 images per seen pair.
GALLERY_SEED = 1
SERVER_START_SECONDS = 300
URL_LINE = "Search page of "


@dataclasses.dataclass(frozen=True)
class SearchPageServer:
  """A running search page and what it serves.

  Attributes:
    url: http://127.0.0.1:PORT/ as the server printed it.
    process: the server's `subprocess.Popen`.
    index_dir: the index it serves.
    gallery: the demo-world directory of the indexed images.
    labels: item id → its eval_labels.json row (colour, shape, pair,
      caption).
    red_circle: a red circle image file from the fixture's own eval split
      (not in the gallery).
    embedder: the fixture export's `Embedder` (in this process).
    index: the `SearchIndex` (in this process).
    log: the server's stderr file.
  """
  url: str
  process: subprocess.Popen
  index_dir: str
  gallery: str
  labels: Dict[str, dict]
  red_circle: str
  embedder: object
  index: object
  log: str


def _labels(world_dir):
  with open(os.path.join(world_dir, "eval_labels.json")) as f:
    return {row["key"]: row for row in json.load(f)}


def _write_image_of_pair(world_dir, pair, path):
  """Writes the first eval image of `pair` in `world_dir` to `path`."""
  keys = {k for k, row in _labels(world_dir).items() if row["pair"] == pair}
  for shard in tf.io.gfile.glob(os.path.join(world_dir, "eval-*.tfrecord")):
    for record in tf.data.TFRecordDataset(shard):
      feature = tf.train.Example.FromString(record.numpy()).features.feature
      if feature["key"].bytes_list.value[0].decode() in keys:
        with open(path, "wb") as f:
          f.write(feature["jpg"].bytes_list.value[0])
        return path
  raise AssertionError(f"No {pair} in {world_dir}.")


def _drop_blue_non_circles(world_dir):
  """Rewrites a world's eval split without blue shapes but circles."""
  labels = _labels(world_dir)
  kept = {k for k, row in labels.items()
          if row["colour"] != "blue" or row["shape"] == "circle"}
  for shard in tf.io.gfile.glob(os.path.join(world_dir, "eval-*.tfrecord")):
    records = [r.numpy() for r in tf.data.TFRecordDataset(shard)]
    with tf.io.TFRecordWriter(shard) as writer:
      for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        if feature["key"].bytes_list.value[0].decode() in kept:
          writer.write(record)
  with open(os.path.join(world_dir, "eval_labels.json"), "w") as f:
    json.dump([row for k, row in labels.items() if k in kept], f)


def _wait_for_url(process, log_path):
  """The URL the server prints once it listens (or fails with its log)."""
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(line) for line in
                                   process.stdout], daemon=True).start()
  try:
    while True:
      line = lines.get(timeout=SERVER_START_SECONDS)
      if line.startswith(URL_LINE):
        return line.split(" on ", 1)[1].split()[0]
  except queue.Empty:
    pass
  process.kill()
  with open(log_path) as f:
    raise AssertionError("The search page did not start:\n" + f.read()[-3000:])


def _build_gallery_and_index(root, export) -> str:
  """Writes the gallery, its index and a red circle image under `root`."""
  # Imported here so that collecting tests stays cheap.
  from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
  from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
  from official.align.search import search_lib  # pylint: disable=g-import-not-at-top
  import trained_demo  # pylint: disable=g-import-not-at-top

  gallery = str(root / "gallery")
  demo_world.generate(gallery, num_train=0, num_eval=GALLERY_SIZE,
                      image_size=trained_demo.IMAGE_SIZE, seed=GALLERY_SEED,
                      eval_held_out_fraction=0.0, write_vocab=False,
                      num_workers=1)
  _drop_blue_non_circles(gallery)
  search_lib.build_index(
      loaders.from_hub_dir(export.export_dir),
      os.path.join(gallery, "eval-*.tfrecord"), str(root / "index"),
      model={"hub_dir": export.export_dir})
  _write_image_of_pair(export.world_dir, "red circle",
                       str(root / "red_circle.jpg"))
  return str(root)


@pytest.fixture(scope="session")
def search_page(trained_demo_export, tmp_path_factory, worker_id):
  """A running search page on the trained demo fixture (module doc)."""
  from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
  from official.align.search import page_search  # pylint: disable=g-import-not-at-top
  import trained_demo  # pylint: disable=g-import-not-at-top

  root = trained_demo.build_once(
      tmp_path_factory, worker_id, "search_page",
      lambda root: _build_gallery_and_index(root, trained_demo_export))
  gallery = os.path.join(root, "gallery")
  index_dir = os.path.join(root, "index")
  red_circle = os.path.join(root, "red_circle.jpg")
  embedder = loaders.from_hub_dir(trained_demo_export.export_dir)
  index = page_search.open_index(index_dir)
  log = str(tmp_path_factory.mktemp("search_page_server") / "server.log")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  with open(log, "w") as stderr:
    process = subprocess.Popen(
        [sys.executable, "-m", "official.align.search", "serve",
         f"--index_dir={index_dir}",
         f"--hub_dir={trained_demo_export.export_dir}", "--port=0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
  try:
    url = _wait_for_url(process, log)
    yield SearchPageServer(url=url, process=process, index_dir=index_dir,
                           gallery=gallery, labels=_labels(gallery),
                           red_circle=red_circle, embedder=embedder,
                           index=index, log=log)
  finally:
    process.terminate()
    try:
      process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      process.kill()
