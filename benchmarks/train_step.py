# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Training throughput (pairs/s) of the reference model, three ways.

  ours:          our `AlignModel` through the real training path:
                 `steps.make_train_loop` + `make_step_fn` (the model's
                 cross-replica `train_step`) under the default strategy,
                 LAMB from `optimization.build_optimizer`, a batch held in
                 memory (`tf.data.Dataset.from_tensors(...).repeat()`), and
                 the host reads of the trainer's loop after every call.
  bare:          the floor: one `tf.function` doing forward, loss, backward
                 and the LAMB update on the same Model Garden towers.
  transformers:  transformers' `AlignModel` (PyTorch, CPU) with the same
                 architecture, `return_loss=True`, Adam.

After warm-up the cases alternate window by window (each window: `steps`
steps of each case), so all three see the same machine load; the figure is
the median over the windows. PyTorch gets as many intra-op threads as
TensorFlow uses.

  python -m benchmarks.train_step [--windows=6 --steps=1]
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As recommended for training (see `input_reader`): recycle large buffers.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import sys
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf

from benchmarks import reference
from benchmarks import results as results_lib
from official.align import losses
from official.align import optimization
from official.align.runtime import steps
from official.align.tasks import align_task
from official.align.dataloaders import input_reader
from official.align.modeling import align_model

CASES = ("ours", "bare", "transformers")


def _dataset_batch(batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """The batch as `InputReader` yields it (with its skip counters)."""
  return dict(batch, skipped_records=np.zeros(
      [len(input_reader.SKIP_REASONS)], np.int64))


def make_ours_step(batch: Dict[str, np.ndarray]) -> Callable[[], float]:
  """One step of the trainer's loop (steps_per_execution from gin)."""
  strategy = tf.distribute.get_strategy()
  config = reference.train_config()
  model, optimizer = reference.build_ours(strategy)
  dataset = tf.data.Dataset.from_tensors(_dataset_batch(batch)).repeat()
  iterator = iter(strategy.distribute_datasets_from_function(
      lambda _: dataset))
  train_loop = steps.make_train_loop(
      strategy, model,
      steps.make_step_fn(model, config.nan_policy, align_task.MEAN_LOG_KEYS),
      config.jit_compile, input_keys=align_task.MODEL_KEYS,
      log_keys=align_task.MEAN_LOG_KEYS)
  num_steps = tf.constant(config.steps_per_execution)

  def step():
    out = train_loop(iterator, num_steps)
    # What `trainer._train` reads back after every call.
    int(optimizer.iterations.numpy())
    int(out["first_nonfinite_step"])
    return float(out["step_loss"]) / config.steps_per_execution
  step.steps_per_call = config.steps_per_execution
  return step


def make_bare_step(batch: Dict[str, np.ndarray]) -> Callable[[], float]:
  """Forward + loss + backward + LAMB update in one plain `tf.function`."""
  model = align_model.build_align_model()
  optimizer = optimization.build_optimizer()
  variables = model.trainable_variables
  features = {k: tf.constant(v) for k, v in batch.items()}
  text_inputs = {k: features[k] for k in align_model.TEXT_KEYS}

  @tf.function
  def train_step():
    with tf.GradientTape() as tape:
      image = tf.math.l2_normalize(model.image_encoder(
          features[align_model.IMAGE_KEY], training=True), axis=-1)
      text = tf.math.l2_normalize(
          model.text_encoder(text_inputs, training=True), axis=-1)
      loss = losses.contrastive_loss(image, text, model.temperature).loss
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss

  def step():
    return float(train_step())
  step.steps_per_call = 1
  return step


def make_transformers_step(batch: Dict[str, np.ndarray]
                           ) -> Callable[[], float]:
  """transformers' AlignModel: forward with return_loss=True, Adam step."""
  import torch  # pylint: disable=g-import-not-at-top
  model = reference.build_transformers(batch["image"].shape[1])
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  inputs = reference.torch_batch(batch)

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = model(**inputs, return_loss=True).loss
    loss.backward()
    optimizer.step()
    return loss.item()
  step.steps_per_call = 1
  return step


MAKERS = {"ours": make_ours_step, "bare": make_bare_step,
          "transformers": make_transformers_step}


def make_case(case: str, batch_size: int = None, image_size: int = None):
  """(step_fn, batch_size) of one case on the parsed reference config."""
  shapes = reference.reference_shapes()
  batch_size = batch_size or shapes["global_batch_size"]
  image_size = image_size or shapes["image_size"]
  batch = reference.synthetic_batch(batch_size, image_size,
                                    shapes["seq_length"], shapes["vocab_size"])
  return MAKERS[case](batch), batch_size


def _repeat(step, steps: int):
  calls = max(1, steps // step.steps_per_call)

  def run():
    for _ in range(calls):
      loss = step()
    if not np.isfinite(loss):
      raise FloatingPointError(f"Non-finite loss {loss}")
  return run, calls * step.steps_per_call


def measure(windows: int = 5, steps: int = 2, warmup_steps: int = 2,
            cases=CASES) -> Dict[str, Dict]:
  """Median pairs/s of each case over interleaved windows.

  Returns:
    case -> dict(pairs_per_s, window_pairs_per_s (list), steps_per_window).
  """
  threads = reference.tf_threads()
  reference.set_torch_threads(threads)
  runners, step_counts, batch_size = {}, {}, None
  for case in cases:
    step, batch_size = make_case(case)
    for _ in range(warmup_steps):
      step()
    runners[case], step_counts[case] = _repeat(step, steps)
  times = reference.interleaved_windows(runners, windows)
  out = {}
  for case in cases:
    rates = [step_counts[case] * batch_size / t for t in times[case]]
    out[case] = dict(pairs_per_s=reference.median(rates),
                     window_pairs_per_s=[round(r, 2) for r in rates],
                     steps_per_window=step_counts[case])
  return out


def run(windows: int = 6, steps: int = 1, warmup_steps: int = 2) -> List:
  """The train-step comparisons in the common result format."""
  reference.parse_reference_config()
  figures = measure(windows, steps, warmup_steps)
  threads = dict(tf_intra_op_threads=reference.tf_threads(),
                 torch_threads=reference.set_torch_threads(
                     reference.tf_threads()),
                 windows=windows,
                 load_average=round(os.getloadavg()[0], 2),
                 window_pairs_per_s={k: v["window_pairs_per_s"]
                                     for k, v in figures.items()})
  ours = figures["ours"]["pairs_per_s"]
  return [
      results_lib.result(
          "train step: ours (train_lib loop, LAMB)", "pairs/s", ours,
          "transformers AlignModel (PyTorch, Adam)",
          figures["transformers"]["pairs_per_s"], goal=">= 2.5x",
          goal_ratio=2.5, **threads),
      results_lib.result(
          "train step: ours (train_lib loop, LAMB)", "pairs/s", ours,
          "bare tf.function, same towers (floor)",
          figures["bare"]["pairs_per_s"], goal=">= 0.9x", goal_ratio=0.9,
          **threads),
  ]


def main():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--windows", type=int, default=6)
  parser.add_argument("--steps", type=int, default=1)
  parser.add_argument("--warmup_steps", type=int, default=2)
  args = parser.parse_args()
  for r in run(args.windows, args.steps, args.warmup_steps):
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
