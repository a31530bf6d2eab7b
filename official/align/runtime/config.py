# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""`TrainConfig`: how long and how to train (task-neutral, gin-bindable)."""
import dataclasses
from typing import Any, Optional

import gin

NAN_POLICIES = ("stop", "skip")


class NonFiniteLossError(RuntimeError):
  """The loss or gradient norm became NaN/Inf (with nan_policy="stop")."""


@gin.configurable
@dataclasses.dataclass
class TrainConfig:
  """How long and how to train (all gin-bindable).

  What is trained on what is the task's (`task`); its data, preprocessing
  and evaluation data are the task's own gin bindings.

  Attributes:
    global_batch_size: examples per step over all replicas.
    train_steps: total optimizer steps of the run (resumes count).
    steps_per_execution: steps run inside one `tf.function` call.
    log_interval: steps between progress lines and scalar summaries.
    checkpoint_interval: steps between checkpoints (0: only at the end).
    max_checkpoints_to_keep: checkpoints kept by the manager.
    checkpoint_data_iterator: also checkpoint the input iterator's position
      (needs a checkpointable pipeline, e.g. TFRecord shards; webdataset
      tars are read by a Python generator, which is not: with them the
      iterator is left out of checkpoints, with a warning).
    eval_interval: steps between evaluations of the task's evaluator, and
      one at the end (0: none).
    eval_batch_size: batch size of the evaluation.
    mixed_precision_policy: e.g. "mixed_bfloat16" (TPU), "mixed_float16"
      (GPU, adds loss scaling), or None for float32.
    jit_compile: XLA-compile the replica step (TPUs always compile).
    nan_policy: "stop" (raise `NonFiniteLossError`) or "skip" (do not apply
      the update of a non-finite step and undo its BatchNorm statistics
      update; the step still counts).
    deterministic: seeded, op-deterministic run with deterministic input.
    seed: seed of initialisation and data (None: random unless
      deterministic, then 0).
    num_summary_images: training images written to TensorBoard at the start
      of a run.
    task: what is trained on what (a `runtime.task.Task`), e.g.
      `@AlignTask()` or `@ClassificationTask()`; None leaves the choice to
      the driver (`official/align/train.py`: `AlignTask`).
  """
  global_batch_size: int = 64
  train_steps: int = 1000
  steps_per_execution: int = 1
  log_interval: int = 100
  checkpoint_interval: int = 1000
  max_checkpoints_to_keep: int = 3
  checkpoint_data_iterator: bool = True
  eval_interval: int = 0
  eval_batch_size: int = 256
  mixed_precision_policy: Optional[str] = None
  jit_compile: bool = False
  nan_policy: str = "stop"
  deterministic: bool = False
  seed: Optional[int] = None
  num_summary_images: int = 4
  task: Optional[Any] = None

  def __post_init__(self):
    if self.nan_policy not in NAN_POLICIES:
      raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got "
                       f"{self.nan_policy!r}")
    if self.steps_per_execution < 1 or self.log_interval < 1:
      raise ValueError("steps_per_execution and log_interval must be >= 1.")

  @property
  def data_seed(self) -> Optional[int]:
    """The seed of the task's input pipeline (`seed`, or 0 if deterministic)."""
    if self.seed is None and self.deterministic:
      return 0
    return self.seed
