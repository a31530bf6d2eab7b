# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""CPU-seconds per 1k pairs of each corpus-scale Beam stage (docs/scale.md).

Input: img2dataset-style TFRecord shards (250 records each) of the demo
world's generator at `--image_size` px (256: img2dataset's default resize),
JPEG + caption + width/height, as the filter reads them. Each stage runs on
the DirectRunner in this process (`in_memory`, one worker), on N and on 2N
pairs; the figure is the marginal cost 1000 (cpu(2N) - cpu(N)) / N in
CPU-seconds (user + system of this process, all threads), so the fixed
costs of a run (building the pipeline, loading a model once per worker)
drop out as they do over a corpus. Stages:

  filter      `filtering.beam_pipeline.run` (all rules, no eval near-dup
              set: the image is not decoded), kept shards written.
  filter_eval the same with `eval_images` (100 eval JPEGs): every image
              is decoded for its dHash (the paper's near-duplicate rule).
  word count  `filtering.word_counts.count_words` (BERT basic splitting,
              CombinePerKey, min count 1).
  embed       `search.embed_pipeline.run` with an untrained export (cost
              does not depend on the weights) of
                demo:  configs/demo.gin (64 px, 128-d);
                B7:    configs/align_b7_bert_base.gin (EfficientNet-B7 at
                       289 px, 640-d). The stage reads the image module
                       only, so the text tower is exported at 1 layer of
                       128 (BERT-Base would only make the export slower).
              Float32 shards, batches of 32 (demo) or 8 (B7).

  .venv/bin/python benchmarks/beam_stages.py [--pairs=4000 --b7_images=16]
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Callable, Dict, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

import gin  # pylint: disable=g-import-not-at-top,g-bad-import-order
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from benchmarks import inference  # pylint: disable=g-import-not-at-top
from official.align import gin_utils  # pylint: disable=g-import-not-at-top
from official.align import preprocessing  # pylint: disable=g-import-not-at-top
from official.align import run_dir  # pylint: disable=g-import-not-at-top
from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
from official.align.filtering import beam_pipeline  # pylint: disable=g-import-not-at-top
from official.align.filtering import word_counts  # pylint: disable=g-import-not-at-top
from official.align.runtime import trainer  # pylint: disable=g-import-not-at-top
from official.align.search import embed_pipeline  # pylint: disable=g-import-not-at-top
from official.align.serving import export_lib  # pylint: disable=g-import-not-at-top
from official.align.tasks import align_task  # pylint: disable=g-import-not-at-top

RECORDS_PER_SHARD = 250
_IN_PROCESS = ["--runner=DirectRunner", "--direct_num_workers=1",
               "--direct_running_mode=in_memory"]
MODELS = {
    "demo": (["demo.gin"], [], 32),
    "B7": (["align_b7_bert_base.gin"], [
        "TextEncoder.num_layers = 1", "TextEncoder.hidden_size = 128",
        "TextEncoder.num_attention_heads = 2", "TextEncoder.inner_dim = 256",
        "TextEncoder.vocab_size = 1000"], 8),
}


def cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def write_pairs(root: str, count: int, image_size: int) -> str:
  """`count` demo-world pairs in TFRecord shards; returns their glob."""
  world = os.path.join(root, "world")
  demo_world.generate(world, num_train=count, num_eval=0,
                      image_size=image_size, seed=0, num_workers=1,
                      write_vocab=False)
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      sorted(tf.io.gfile.glob(os.path.join(world, "train-*.tfrecord"))))]
  shards = os.path.join(root, "shards")
  os.makedirs(shards)
  for start in range(0, count, RECORDS_PER_SHARD):
    with tf.io.TFRecordWriter(os.path.join(
        shards, f"part-{start // RECORDS_PER_SHARD:05d}.tfrecord")) as w:
      for record in records[start:start + RECORDS_PER_SHARD]:
        w.write(record)
  return os.path.join(shards, "*.tfrecord")


def write_eval_images(root: str, count: int, image_size: int) -> str:
  """`count` eval JPEG files of another seed; returns their glob."""
  demo_world.generate(root, num_train=0, num_eval=count,
                      image_size=image_size, seed=1, num_workers=1,
                      write_vocab=False, eval_held_out_fraction=0.0)
  images = os.path.join(root, "jpg")
  os.makedirs(images)
  for i, record in enumerate(tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(root, "eval-*.tfrecord")))):
    example = tf.train.Example.FromString(record.numpy())
    with open(os.path.join(images, f"{i:05d}.jpg"), "wb") as f:
      f.write(example.features.feature["jpg"].bytes_list.value[0])
  return os.path.join(images, "*.jpg")


def export_untrained(name: str, work_dir: str) -> str:
  """Checkpoints an untrained model of `MODELS[name]` and exports it."""
  files, bindings, _ = MODELS[name]
  files = [os.path.join(REPO_ROOT, "configs", f) for f in files]
  model_dir = os.path.join(work_dir, name, "model")
  vocab_file = os.path.join(work_dir, name, "vocab.txt")
  os.makedirs(model_dir)
  bindings = bindings + [f"Preprocessing.vocab_file = '{vocab_file}'",
                         "AlignTask.train_file_pattern = 'unused'"]
  with gin.unlock_config():
    gin.clear_config()
    gin_utils.parse_gin(files, bindings)
  inference.write_vocab(vocab_file, gin.query_parameter(
      "TextEncoder.vocab_size"))
  model, _ = trainer.build_model_and_optimizer(
      tf.distribute.get_strategy(),
      trainer.TrainConfig(task=align_task.AlignTask()))
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model),
      os.path.join(model_dir, "checkpoints"), max_to_keep=1).save(0)
  run_dir.write_run_record(model_dir, gin.config_str(),
                           preprocessing.Preprocessing())
  export_dir = os.path.join(work_dir, name, "export")
  export_lib.export(model_dir, export_dir)
  with gin.unlock_config():
    gin.clear_config()
  return export_dir


def marginal(stage: Callable[[str, str], None], specs: Dict[int, str],
             out_root: str, rounds: int = 2) -> Dict:
  """CPU-seconds per 1k pairs from runs on N and 2N pairs (best of rounds)."""
  best = {}
  for r in range(rounds):
    for n, spec in specs.items():
      cpu = cpu_seconds()
      stage(spec, os.path.join(out_root, f"{n}-{r}-{time.time_ns()}"))
      best[n] = min(best.get(n, float("inf")), cpu_seconds() - cpu)
  small, large = sorted(specs)
  per_1k = 1000 * (best[large] - best[small]) / (large - small)
  return dict(cpu_s_per_1k=per_1k, cpu_s={str(k): round(v, 2)
                                          for k, v in best.items()})


def run(pairs: int = 4000, b7_images: int = 16, image_size: int = 256,
        stages: Sequence[str] = ("filter", "filter_eval", "word_count",
                                 "embed_demo", "embed_B7")) -> Dict:
  options = embed_pipeline.PipelineOptions(_IN_PROCESS)
  out = {}
  with tempfile.TemporaryDirectory() as work_dir:
    specs = {n: write_pairs(os.path.join(work_dir, f"pairs{n}"), n,
                            image_size) for n in (pairs, 2 * pairs)}
    b7_specs = {n: write_pairs(os.path.join(work_dir, f"b7_{n}"), n,
                               image_size) for n in (b7_images, 2 * b7_images)}
    runs = os.path.join(work_dir, "runs")

    def filter_stage(spec, out_dir, eval_images=None):
      beam_pipeline.run(spec, out_dir, eval_images=eval_images,
                        pipeline_options=options)

    def count_stage(spec, out_dir):
      word_counts.count_words(spec, out_dir, pipeline_options=options)

    def embed_stage(export_dir, batch_size):
      return lambda spec, out_dir: embed_pipeline.run(
          spec, export_dir, out_dir, batch_size=batch_size,
          pipeline_options=options)

    for stage in stages:
      start = time.perf_counter()
      if stage == "filter":
        m = marginal(filter_stage, specs, runs)
      elif stage == "filter_eval":
        eval_glob = write_eval_images(os.path.join(work_dir, "eval"), 100,
                                      image_size)
        m = marginal(lambda spec, out_dir: filter_stage(spec, out_dir,
                                                        eval_glob),
                     specs, runs)
      elif stage == "word_count":
        m = marginal(count_stage, specs, runs)
      else:
        name = stage.split("_", 1)[1]
        export_dir = export_untrained(name, work_dir)
        m = marginal(embed_stage(export_dir, MODELS[name][2]),
                     b7_specs if name == "B7" else specs, runs)
      m["wall_s"] = round(time.perf_counter() - start, 1)
      out[stage] = m
      print(f"{stage:11s}: {m['cpu_s_per_1k']:.1f} CPU-s per 1k pairs "
            f"(CPU-s per run {m['cpu_s']}; {m['wall_s']} s)", flush=True)
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--pairs", type=int, default=4000)
  parser.add_argument("--b7_images", type=int, default=16)
  parser.add_argument("--image_size", type=int, default=256)
  parser.add_argument("--stages", default="filter,filter_eval,word_count,"
                      "embed_demo,embed_B7")
  args = parser.parse_args(argv)
  result = run(args.pairs, args.b7_images, args.image_size,
               args.stages.split(","))
  print(json.dumps(dict(result, pairs=args.pairs, b7_images=args.b7_images,
                        image_size=args.image_size,
                        load_average=round(os.getloadavg()[0], 2))))


if __name__ == "__main__":
  main()
