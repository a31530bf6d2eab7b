# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""End-to-end CPU demo: synthetic world → training → zero-shot evaluation.

  python -m official.align.demo --workdir=runs/demo [--seed=0] \
      [--gin_bindings=...]

1. Generates the demo world (`demo.world`) in WORKDIR/world
   (or `run_demo.world_dir`), unless its metadata.json exists
   (`generate.*` gin bindings apply).
2. Trains `configs/demo.gin` (plus --gin_file/--gin_bindings) with
   `runtime.trainer.train` in WORKDIR/model (resumes if a checkpoint
   exists); the demo config plugs in the demo world's evaluator.
3. Evaluates on the held-out eval split: zero-shot top-1 over the 48
   colour×shape classes (prompt-ensembled class embeddings) on seen and on
   held-out pairs, image→text and text→image R@1/5/10; prints a table, writes
   WORKDIR/results.json and WORKDIR/zero_shot.png (held-out images with the
   top-3 predicted classes).
"""
import json
import os
import time
from typing import Dict, Optional, Sequence

from absl import logging
import gin
import numpy as np

from official.align.demo import world as demo_world
from official.align.evaluation import zero_shot
from official.align.runtime import config as config_lib
from official.align.runtime import trainer

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEFAULT_GIN_FILE = os.path.join(_REPO_ROOT, "configs", "demo.gin")


def format_table(metrics: Dict[str, float], info: Dict) -> str:
  """The demo's result table (plain text)."""
  rows = [
      ("zero-shot top-1, seen pairs", metrics["zero_shot_top1_seen"]),
      ("zero-shot top-1, held-out pairs", metrics["zero_shot_top1_held_out"]),
      ("zero-shot top-1, all 48 classes", metrics["zero_shot_top1_all"]),
      ("zero-shot top-5, all 48 classes", metrics["zero_shot_top5_all"]),
  ]
  # Which attribute the zero-shot errors get wrong.
  for group, label in (("seen", "seen"), ("held_out", "held-out")):
    for attribute in ("colour", "shape"):
      rows.append((f"top-1 has the right {attribute}, {label}",
                   metrics[f"zero_shot_{attribute}_accuracy_{group}"]))
  for k in (1, 5, 10):
    rows.append((f"image→text R@{k}", metrics[f"image_to_text_R@{k}"]))
  for k in (1, 5, 10):
    rows.append((f"text→image R@{k}", metrics[f"text_to_image_R@{k}"]))
  width = max(len(name) for name, _ in rows)
  lines = [f"{'metric'.ljust(width)}  value", "-" * (width + 8)]
  lines += [f"{name.ljust(width)}  {100 * v:5.1f}%" for name, v in rows]
  lines.append("-" * (width + 8))
  for name, value in info.items():
    lines.append(f"{name}: {value}")
  return "\n".join(lines)


def plot_zero_shot(path: str, images: np.ndarray, scores: np.ndarray,
                   labels: np.ndarray, class_names: Sequence[str],
                   columns: int = 4):
  """Grid of images with their top-3 classes and cosine scores (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  n = len(images)
  rows = max(1, -(-n // columns))
  fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.4 * rows),
                           squeeze=False)
  top3 = zero_shot.top_k_predictions(scores, 3)
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i >= n:
      continue
    ax.imshow(np.clip(images[i], 0, 1))
    lines = [f"true: {class_names[labels[i]]}"]
    for j in top3[i]:
      mark = "*" if j == labels[i] else " "
      lines.append(f"{mark}{class_names[j]} {scores[i, j]:.2f}")
    ax.set_title("\n".join(lines), fontsize=8, family="monospace", loc="left")
  fig.suptitle("Zero-shot on held-out colour-shape pairs (top-3, cosine)")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


@gin.configurable(denylist=["workdir"])
def run_demo(workdir: str, num_figure_images: int = 16,
             world_dir: Optional[str] = None) -> Dict:
  """Generates the world if needed, trains, evaluates, reports.

  Args:
    workdir: world/, model/, results.json and zero_shot.png go here.
    num_figure_images: held-out images in zero_shot.png.
    world_dir: the demo world's directory; default WORKDIR/world. Point
      several runs at one generated world to compare configurations.

  Returns:
    dict: `metrics`, `info` (steps, wall time, noisy captions), `table`.
  """
  start = time.time()
  world_dir = world_dir or os.path.join(workdir, "world")
  if not os.path.exists(os.path.join(world_dir, "metadata.json")):
    logging.info("Generating the demo world in %s", world_dir)
    demo_world.generate(world_dir)
  with open(os.path.join(world_dir, "metadata.json")) as f:
    metadata = json.load(f)
  world_seconds = time.time() - start

  # Bound through gin (not passed as arguments) so that they are in the
  # operative config, which the exporter reads.
  with gin.unlock_config():
    gin.bind_parameter("AlignTask.train_file_pattern",
                       os.path.join(world_dir, "train-*.tfrecord"))
    gin.bind_parameter("Preprocessing.vocab_file",
                       os.path.join(world_dir, "vocab.txt"))
    gin.bind_parameter("build_demo_evaluator.eval_file_pattern",
                       os.path.join(world_dir, "eval-*.tfrecord"))
    gin.bind_parameter("build_demo_evaluator.labels_file",
                       os.path.join(world_dir, "eval_labels.json"))
  config = config_lib.TrainConfig()
  train_start = time.time()
  result = trainer.train(os.path.join(workdir, "model"), config=config)
  train_seconds = time.time() - train_start

  evaluator = (result["evaluator"] or
               config.task.build_evaluator(result["model"], config))
  # Keep enough images to find held-out ones for the figure.
  evaluation = evaluator.evaluate(keep_images=10 ** 9)
  metrics = evaluation["metrics"]
  held = np.flatnonzero(evaluation["held_out"])[:num_figure_images]
  plot_zero_shot(os.path.join(workdir, "zero_shot.png"),
                 evaluation["images"][held], evaluation["scores"][held],
                 evaluation["labels"][held], evaluation["class_names"])

  examples_seen = result["step"] * config.global_batch_size
  noisy = metadata["num_noisy_train_captions"]
  info = {
      "training steps": result["step"],
      "global batch": config.global_batch_size,
      "examples trained through": examples_seen,
      "seed (initialisation, input order)": config.seed,
      "noisy captions in the training set": (
          f"{noisy} of {metadata['num_train']}"),
      "noisy captions trained through (expected)": int(round(
          examples_seen * noisy / max(metadata["num_train"], 1))),
      "eval images (seen / held-out)": (
          f"{int((~evaluation['held_out']).sum())} / "
          f"{int(evaluation['held_out'].sum())}"),
      "world generation seconds": round(world_seconds, 1),
      "training seconds (incl. tracing)": round(train_seconds, 1),
      "total seconds": round(time.time() - start, 1),
  }
  table = format_table(metrics, info)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump({"metrics": metrics, "info": info}, f, indent=1)
  return dict(metrics=metrics, info=info, table=table)
