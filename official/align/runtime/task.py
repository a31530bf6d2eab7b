# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The contract between the trainer and a task (`typing.Protocol`).

A task says what is trained on what; `runtime.trainer.train` does the rest
(strategy, loop, checkpoints, summaries, preemption, evaluation schedule).
Implementations: `tasks.align_task.AlignTask` (contrastive pre-training and
retrieval fine-tuning) and `tasks.classification_task.ClassificationTask`
(linear probe and fine-tuning).
"""
from typing import (Any, Callable, Dict, Mapping, Optional, Protocol,
                    Sequence, runtime_checkable)

import tensorflow as tf
import tf_keras

from official.align import preprocessing as preprocessing_lib

DatasetFn = Callable[[Optional[tf.distribute.InputContext]], tf.data.Dataset]


@runtime_checkable
class Evaluator(Protocol):
  """Evaluates the model being trained."""

  def evaluate(self) -> Mapping[str, Any]:
    """Returns a dict with `metrics`: {name: float} (written to eval/)."""


@runtime_checkable
class Task(Protocol):
  """What the trainer needs from a task.

  Attributes:
    input_keys: batch features the model's step reads.
    log_keys: global float32 scalars the step returns, summed per log
      interval; the loss (`step_loss`) first.
    preprocessing: the model's `Preprocessing`, recorded in the run dir
      (None: nothing to record).
  """
  input_keys: Sequence[str]
  log_keys: Sequence[str]
  preprocessing: Optional[preprocessing_lib.Preprocessing]

  def build_model(self) -> tf_keras.Model:
    """The built model (called in the strategy scope).

    It has `train_step(features)`, `compute_gradients(features)` →
    (gradients, output, gradient_norm) and `step_logs(output, **extra)`
    (`modeling.align_model.AlignModel`, `transfer.classifier_model.
    ClassifierModel`).
    """

  def build_inputs(self, config) -> DatasetFn:
    """`dataset_fn(input_context)` of the training data (a `TrainConfig`).

    Batches hold `input_keys` and `skipped_records` (int64 counts per
    `dataloaders.skip_counts.SKIP_REASONS`). An object with
    `checkpointable = False` makes the trainer leave the iterator out of
    checkpoints.
    """

  def summary_scalars(self, model) -> Dict[str, float]:
    """Extra scalars logged every log interval (e.g. the temperature)."""

  def build_evaluator(self, model, config) -> Optional[Evaluator]:
    """The evaluator run every `config.eval_interval` steps, or None."""

  def write_sample_images(self, writer, config, step: int) -> None:
    """Writes a few training examples to `writer` (a summary writer)."""
