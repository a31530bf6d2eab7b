# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""How the training cost grows: batch, image size, and the loss alone.

  towers:  our training step (`train_step.make_ours_step`, the real
           trainer's loop) at batch 32/64/128 (128 px) and at 224 px
           (batch 64), in pairs/s next to the reference (batch 64, 128 px).
  loss:    `losses.contrastive_loss` alone (forward + backward) for one
           replica holding the reference's local batch (64 rows) in a global
           batch of 1k/4k/16k: its cost is local x global. Timed against
           the towers' step of the same 64 local pairs.

The loss is timed as one replica of a data-parallel run would pay it: the
replica context's `all_gather` is replaced, for this benchmark only, by a
concatenation of the local embeddings with fixed embeddings standing in for
the other replicas' rows (gradients reach the local rows only, as after
`all_gather`'s backward slice). That keeps a 16k-column step within a few
MB on this CPU instead of the 16k x 16k logits of one device; the
arithmetic per replica is exactly that of `losses.contrastive_loss`.

  python -m benchmarks.scaling [--windows=2]
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import sys
import time
from typing import List, Sequence
from unittest import mock

import numpy as np
import tensorflow as tf

from benchmarks import reference
from benchmarks import results as results_lib
from benchmarks import train_step
from official.align import losses

TOWER_SHAPES = ((32, 128), (128, 128), (64, 224))  # (batch, px) vs 64/128.
GLOBAL_BATCHES = (1024, 4096, 16384)


class _OneReplicaOfMany:
  """Replica context of replica 0 of `global_batch / local_batch` replicas.

  `all_gather(x)` returns [x; remote rows]: the other replicas' rows are
  fixed random unit vectors (no gradient), as they are constants to this
  replica's backward pass apart from the cross-replica gradient sum.
  """

  def __init__(self, local_batch: int, global_batch: int, dim: int):
    if global_batch % local_batch:
      raise ValueError(f"global batch {global_batch} is not a multiple of "
                       f"the local batch {local_batch}")
    self.num_replicas_in_sync = global_batch // local_batch
    self.replica_id_in_sync_group = 0
    remote = tf.random.stateless_normal(
        [global_batch - local_batch, dim], seed=[0, 1])
    self._remote = tf.math.l2_normalize(remote, axis=-1)

  def all_gather(self, value, axis):
    del axis
    return tf.concat([value, self._remote], axis=0)


def time_loss(local_batch: int, global_batch: int, dim: int,
              repeats: int = 5) -> float:
  """Median seconds of one forward + backward of the loss for one replica."""
  context = _OneReplicaOfMany(local_batch, global_batch, dim)
  rng = np.random.default_rng(0)
  image = tf.Variable(tf.math.l2_normalize(
      rng.normal(size=(local_batch, dim)).astype(np.float32), axis=-1))
  text = tf.Variable(tf.math.l2_normalize(
      rng.normal(size=(local_batch, dim)).astype(np.float32), axis=-1))
  temperature = tf.Variable(1.0)
  variables = [image, text, temperature]

  @tf.function
  def loss_and_gradients():
    with tf.GradientTape() as tape:
      loss = losses.contrastive_loss(image, text, temperature).loss
    return loss, tape.gradient(loss, variables)

  with mock.patch.object(tf.distribute, "get_replica_context",
                         lambda: context):
    loss_and_gradients()  # Trace and warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    loss, gradients = loss_and_gradients()
    float(loss)
    [g.numpy() for g in gradients]  # pylint: disable=expression-not-assigned
    times.append(time.perf_counter() - start)
  return reference.median(times)


def time_towers(batch_size: int, image_size: int, windows: int,
                steps: int = 1) -> float:
  """Median pairs/s of our training step at this batch and image size."""
  step, _ = train_step.make_case("ours", batch_size, image_size)
  step()  # Trace and warm up.
  rates = []
  for _ in range(windows):
    start = time.perf_counter()
    for _ in range(steps):
      step()
    rates.append(steps * batch_size / (time.perf_counter() - start))
  return reference.median(rates)


def run(windows: int = 2, tower_shapes: Sequence = TOWER_SHAPES,
        global_batches: Sequence[int] = GLOBAL_BATCHES) -> List:
  """The scaling figures in the common result format."""
  reference.parse_reference_config()
  shapes = reference.reference_shapes()
  ref_batch, ref_px = shapes["global_batch_size"], shapes["image_size"]
  reference_rate = time_towers(ref_batch, ref_px, windows)
  out = []
  for batch_size, image_size in tower_shapes:
    rate = time_towers(batch_size, image_size, windows)
    out.append(results_lib.result(
        f"train step at batch {batch_size}, {image_size} px", "pairs/s",
        rate, f"train step at batch {ref_batch}, {ref_px} px", reference_rate,
        goal=None, windows=windows))
  local = ref_batch
  towers_seconds = local / reference_rate
  for global_batch in global_batches:
    loss_seconds = time_loss(local, global_batch, shapes["embed_dim"])
    out.append(results_lib.result(
        f"towers' step time / loss time, global batch {global_batch} "
        f"(local {local})", "ms", towers_seconds * 1e3,
        "contrastive_loss forward+backward (one replica)",
        loss_seconds * 1e3, goal=">= 10x (loss small next to the towers)",
        goal_ratio=10.0, global_batch=global_batch, local_batch=local))
  return out


def main():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--windows", type=int, default=2)
  args = parser.parse_args()
  for r in run(args.windows):
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
