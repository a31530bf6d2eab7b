# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Gin wiring of Model Garden's LAMB and warmup/decay schedule for ALIGN.

Nothing is implemented here: the optimizer and schedules are
`official.modeling.optimization`'s (and Keras' Adam, `build_adam`, for small
from-scratch runs). Paper defaults (Jia et al. 2021, §5):
LAMB, weight decay 1e-5, learning rate warmed up linearly from 0 to 1e-3 over
10k steps, then decayed linearly to 0 at 1.2M steps.
"""
from typing import Optional, Sequence

import gin
import tf_keras

from official.modeling import optimization

# Regexes over variable names kept out of weight decay *and* LAMB's layer
# adaptation: all normalisation parameters, biases and the temperature (the
# sigmoid loss's `log_logit_scale` and `logit_bias` too).
NO_DECAY_PATTERNS = (
    "batch_normalization", "layer_norm", "LayerNorm", "gamma", "beta",
    "bias", "temperature", "logit_scale")


@gin.configurable
def build_learning_rate(
    peak_learning_rate: float = 1e-3,
    warmup_steps: int = 10_000,
    total_steps: int = 1_200_000,
    end_learning_rate: float = 0.0,
) -> tf_keras.optimizers.schedules.LearningRateSchedule:
  """Linear warmup from 0 to the peak, then linear decay to the end value.

  The decay starts where the warmup ends (polynomial offset), so the rate is
  continuous and reaches `end_learning_rate` exactly at `total_steps`.
  """
  if not 0 <= warmup_steps < total_steps:
    raise ValueError(f"Need 0 <= warmup_steps ({warmup_steps}) < total_steps "
                     f"({total_steps}).")
  config = optimization.OptimizationConfig({
      "optimizer": {"type": "lamb"},
      "learning_rate": {
          "type": "polynomial",
          "polynomial": {
              "initial_learning_rate": peak_learning_rate,
              "decay_steps": total_steps - warmup_steps,
              "end_learning_rate": end_learning_rate,
              "power": 1.0,
              "offset": warmup_steps,
          },
      },
      "warmup": {
          "type": "linear",
          "linear": {"warmup_steps": warmup_steps,
                     "warmup_learning_rate": 0.0},
      },
  })
  return optimization.OptimizerFactory(config).build_learning_rate()


@gin.configurable
def build_optimizer(
    learning_rate=None,
    weight_decay_rate: float = 1e-5,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    exclude_from_weight_decay: Sequence[str] = NO_DECAY_PATTERNS,
    global_clipnorm: float | None = None,
) -> tf_keras.optimizers.legacy.Optimizer:
  """Model Garden's LAMB with ALIGN's decay exclusions.

  Args:
    learning_rate: a schedule or float; default `build_learning_rate()`.
    weight_decay_rate: decoupled weight decay.
    beta_1: first-moment decay.
    beta_2: second-moment decay.
    epsilon: numerical stability term.
    exclude_from_weight_decay: variable-name regexes excluded from weight
      decay and from layer adaptation.
    global_clipnorm: optional clipping of the global gradient norm.
  """
  if learning_rate is None:
    learning_rate = build_learning_rate()
  config = optimization.OptimizationConfig({
      "optimizer": {
          "type": "lamb",
          "lamb": {
              "weight_decay_rate": weight_decay_rate,
              "beta_1": beta_1,
              "beta_2": beta_2,
              "epsilon": epsilon,
              "exclude_from_weight_decay": list(exclude_from_weight_decay),
              "exclude_from_layer_adaptation": list(
                  exclude_from_weight_decay),
              "global_clipnorm": global_clipnorm,
          },
      },
      "learning_rate": {"type": "constant"},
  })
  return optimization.OptimizerFactory(config).build_optimizer(learning_rate)


@gin.configurable
def build_adam(learning_rate=None, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, global_clipnorm: Optional[float] = None
               ) -> tf_keras.optimizers.legacy.Optimizer:
  """Adam with `build_learning_rate()`'s schedule (small runs).

  LAMB (the paper's, `build_optimizer`) scales every update to
  `learning_rate * ||w||`, which is slow for from-scratch CPU-sized demos.
  """
  if learning_rate is None:
    learning_rate = build_learning_rate()
  return tf_keras.optimizers.legacy.Adam(
      learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
      epsilon=epsilon, global_clipnorm=global_clipnorm)
