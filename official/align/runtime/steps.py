# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The replica step and the multi-step `tf.function` loop (task-neutral).

The model brings its own cross-replica `train_step` (gradients of the
global-batch mean loss, summed once over replicas); `make_step_fn` adds the
"skip" NaN policy around it, `make_train_loop` runs several steps per call
and reduces their logs.
"""
from typing import Sequence

import tensorflow as tf
import tf_keras

from official.align.dataloaders import skip_counts
from official.align.modeling import align_model


class _VarHolder:
  """Keeps `merge_call` from unwrapping a list of distributed variables."""

  def __init__(self, value):
    self.value = value


def make_step_fn(model: tf_keras.Model, nan_policy: str,
                 log_keys: Sequence[str]):
  """The replica step: model's `train_step`, or a skipping variant.

  Args:
    model: a compiled model with `train_step`, `compute_gradients` and
      `step_logs` (`AlignModel`, `ClassifierModel`).
    nan_policy: see `config.TrainConfig`.
    log_keys: the scalars of the step's logs to return.

  Returns:
    fn(features) -> dict of global float32 scalars (`log_keys`, e.g.
    `step_loss`, accuracies, `gradient_norm`; `finite` (1. or 0.)).
  """
  if nan_policy == "stop":

    def step_fn(features):
      logs = model.train_step(features)
      finite = tf.logical_and(tf.math.is_finite(logs["step_loss"]),
                              tf.math.is_finite(logs["gradient_norm"]))
      return dict({k: logs[k] for k in log_keys},
                  finite=tf.cast(finite, tf.float32))
    return step_fn

  def skip_step_fn(features):
    optimizer = model.optimizer
    # The forward pass updates BatchNorm statistics; keep them to undo it.
    state = [v for v in model.non_trainable_variables if v.dtype.is_floating]
    saved = [tf.identity(v) for v in state]
    gradients, output, gradient_norm = model.compute_gradients(features)
    logs = model.step_logs(output, gradient_norm=gradient_norm)
    finite = tf.logical_and(tf.math.is_finite(logs["step_loss"]),
                            tf.math.is_finite(gradient_norm))
    for v, value in zip(state, saved):
      v.assign(tf.where(finite, v, value))
    variables = _VarHolder(model.trainable_variables)

    def apply_cross_replica(strategy, gradients, finite, variables):
      # `cond` must run in cross-replica context: `apply_gradients` calls
      # `merge_call` (the pattern of Keras' LossScaleOptimizer).
      should_apply = strategy.experimental_local_results(finite)[0]

      def apply():
        # `variables` is per replica here (merge_call regroups the holders);
        # call_for_each_replica hands each replica its own.
        strategy.extended.call_for_each_replica(
            lambda g, v: align_model.apply_aggregated_gradients(
                optimizer, zip(g, v.value)), args=(gradients, variables))
        return tf.constant(True)

      def skip():
        with tf.control_dependencies([optimizer.iterations.assign_add(1)]):
          return tf.constant(False)

      return tf.__internal__.smart_cond.smart_cond(should_apply, apply, skip)

    tf.distribute.get_replica_context().merge_call(
        apply_cross_replica, args=(gradients, finite, variables))
    return dict({k: logs[k] for k in log_keys},
                finite=tf.cast(finite, tf.float32))
  return skip_step_fn


def make_train_loop(strategy, model, step_fn, jit_compile: bool,
                    input_keys: Sequence[str], log_keys: Sequence[str]):
  """`tf.function(iterator, num_steps)` running `num_steps` steps.

  Args:
    strategy: the `tf.distribute` strategy.
    model: the model (its optimizer counts the steps).
    step_fn: the replica step (`make_step_fn`).
    jit_compile: XLA-compile the replica step.
    input_keys: batch features passed to the step.
    log_keys: the step's scalars to sum.

  Returns:
    fn -> dict: sums over the steps of `log_keys` (float32), `finite`
    count, `first_nonfinite_step` (int64, -1 if none; the global step number
    after that step), `skipped_records` int64 [len(SKIP_REASONS)] of this
    host's input pipeline.
  """
  replica_fn = (tf.function(step_fn, jit_compile=True) if jit_compile
                else step_fn)
  first = lambda v: strategy.experimental_local_results(v)[0]

  @tf.function
  def train_loop(iterator, num_steps):
    sums = {k: tf.constant(0.0) for k in log_keys}
    first_bad = tf.constant(-1, tf.int64)
    skipped = tf.zeros([len(skip_counts.SKIP_REASONS)], tf.int64)
    for _ in tf.range(num_steps):
      data = next(iterator)
      features = {k: data[k] for k in input_keys}
      out = strategy.run(replica_fn, args=(features,))
      out = {k: first(v) for k, v in out.items()}
      sums = {k: sums[k] + out[k] for k in log_keys}
      step = tf.cast(model.optimizer.iterations, tf.int64)
      first_bad = tf.where(
          tf.logical_and(first_bad < 0, out["finite"] < 0.5), step, first_bad)
      # (Multi-worker input loses the static shape; the loop needs it.)
      skipped = tf.ensure_shape(tf.reduce_max(tf.stack(
          strategy.experimental_local_results(data["skipped_records"])),
                                              axis=0), skipped.shape)
    return dict(sums, first_nonfinite_step=first_bad, skipped_records=skipped)

  return train_loop
