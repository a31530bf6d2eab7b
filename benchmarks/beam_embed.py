# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Beam embedding pipeline vs the single-process `search build`, per core.

The same images (JPEGs of the demo world's generator at 160 px in
img2dataset TFRecord shards) are embedded by the exported reference model
(`configs/bench_reference.gin`: EfficientNet-B0 at 128 px, untrained: the
cost is the same) through

  ours:      `embed_pipeline.run` on the DirectRunner, one worker in this
             process (read, `BatchElements` of 64, the export's
             `image_bytes` signature, write of float32 shards);
  baseline:  `search_lib.embed_collection`, what `search build` runs (the
             same signature, batches of 64).

Throughput per core is images per CPU-second of this process (user +
system, all threads). A run embeds N and 2N images; the rate is the
marginal one, N / (cpu(2N) - cpu(N)), so each side's fixed costs (loading
the model: once per Beam run, in `DoFn.setup`; building the pipeline) drop
out, as they do over a corpus. The cases alternate, two rounds, best kept.
Goal: >= 0.9x the single-process builder.

  .venv/bin/python benchmarks/beam_embed.py [--images=512]
"""
import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
  sys.path.insert(0, os.path.dirname(HERE))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from benchmarks import inference  # pylint: disable=g-import-not-at-top
from benchmarks import reference  # pylint: disable=g-import-not-at-top
from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
from official.align.search import embed_pipeline  # pylint: disable=g-import-not-at-top
from official.align.search import search_lib  # pylint: disable=g-import-not-at-top

GOAL = 0.9
IMAGE_SIZE = 160
IMAGES_PER_SHARD = 128
BATCH_SIZE = 64
_IN_PROCESS = ["--runner=DirectRunner", "--direct_num_workers=1",
               "--direct_running_mode=in_memory"]


def cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def write_collection(root: str, count: int) -> str:
  """`count` demo-world images in TFRecord shards; returns their glob."""
  world = os.path.join(root, "world")
  demo_world.generate(world, num_train=0, num_eval=count,
                      image_size=IMAGE_SIZE, seed=0, num_workers=1,
                      write_vocab=False, eval_held_out_fraction=0.0)
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(world, "eval-*.tfrecord")))]
  shards = os.path.join(root, f"shards{count}")
  os.makedirs(shards)
  for start in range(0, count, IMAGES_PER_SHARD):
    path = os.path.join(shards, f"part-{start // IMAGES_PER_SHARD:05d}"
                        ".tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for record in records[start:start + IMAGES_PER_SHARD]:
        writer.write(record)
  return os.path.join(shards, "*.tfrecord")


def measure(num_images: int = 512, rounds: int = 2) -> Dict:
  reference.parse_reference_config()
  with tempfile.TemporaryDirectory() as work_dir:
    export_dir = inference.export_reference(work_dir)
    sizes = {n: write_collection(os.path.join(work_dir, f"c{n}"), n)
             for n in (num_images, 2 * num_images)}
    embedder = loaders.from_hub_dir(export_dir, batch_size=BATCH_SIZE)
    options = embed_pipeline.PipelineOptions(_IN_PROCESS)

    def single(spec):
      search_lib.embed_collection(embedder, spec, batch_size=BATCH_SIZE)

    def beam(spec):
      out = os.path.join(work_dir, "out")
      shutil.rmtree(out, ignore_errors=True)
      embed_pipeline.run(spec, export_dir, out, batch_size=BATCH_SIZE,
                         pipeline_options=options)

    single(sizes[num_images])  # Warm-up (graph tracing, thread pools).
    cost = {("single", n): [] for n in sizes}
    cost.update({("beam", n): [] for n in sizes})
    wall = {k: [] for k in cost}
    for _ in range(rounds):
      for n, spec in sizes.items():
        for name, fn in (("single", single), ("beam", beam)):
          cpu, start = cpu_seconds(), time.perf_counter()
          fn(spec)
          cost[(name, n)].append(cpu_seconds() - cpu)
          wall[(name, n)].append(time.perf_counter() - start)
  best = {k: min(v) for k, v in cost.items()}
  rate = {name: num_images / (best[(name, 2 * num_images)]
                              - best[(name, num_images)])
          for name in ("single", "beam")}
  return dict(rate=rate, cpu=best,
              wall={k: min(v) for k, v in wall.items()},
              num_images=num_images)


def run(num_images: int = 512) -> List[Dict]:
  m = measure(num_images)
  print(f"images per CPU-second (marginal, {num_images} -> "
        f"{2 * num_images} images): Beam {m['rate']['beam']:.1f}, "
        f"single process {m['rate']['single']:.1f} "
        f"({m['rate']['beam'] / m['rate']['single']:.2f}x); CPU-seconds "
        + ", ".join(f"{k[0]} {k[1]}: {v:.1f}" for k, v in m["cpu"].items()),
        flush=True)
  return [results_lib.result(
      "Beam embedding pipeline (DirectRunner, 1 worker), per core",
      "images per CPU-second", m["rate"]["beam"],
      "single-process search build (embed_collection)",
      m["rate"]["single"], goal=f">= {GOAL}x", goal_ratio=GOAL,
      model="bench_reference (B0, 128 px)", batch_size=BATCH_SIZE,
      cpu_seconds={f"{k[0]}_{k[1]}": round(v, 2) for k, v in m["cpu"].items()},
      wall_seconds={f"{k[0]}_{k[1]}": round(v, 2)
                    for k, v in m["wall"].items()},
      load_average=round(os.getloadavg()[0], 2))]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--images", type=int, default=512)
  args = parser.parse_args(argv)
  print(json.dumps(run(args.images)))


if __name__ == "__main__":
  main()
