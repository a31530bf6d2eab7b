# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Per-interval progress: scalars to TensorBoard and one log line."""
import time
from typing import Dict, Mapping, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from official.align.dataloaders import skip_counts


def operative_config_markdown(text: str) -> str:
  """A gin config as a TensorBoard text summary (a Markdown code block)."""
  return "\n".join("    " + line for line in text.splitlines())


def format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def current_learning_rate(optimizer) -> float:
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  lr = inner.learning_rate if hasattr(inner, "learning_rate") else inner.lr
  if callable(lr):
    lr = lr(inner.iterations)
  return float(tf.convert_to_tensor(lr))


class IntervalLog:
  """Sums the loop's scalars over a log interval and reports their means.

  `add(out, num_steps)` after each loop call; `write(...)` at the end of an
  interval writes the means (`loss` = `step_loss`, the other `log_keys`),
  the task's extra scalars, the learning rate, examples per second and the
  skipped-record counts, logs one progress line and starts a new interval.
  """

  def __init__(self, writer, log_keys: Sequence[str], train_steps: int,
               global_batch_size: int):
    self._writer = writer
    self._log_keys = tuple(log_keys)
    self._train_steps = train_steps
    self._global_batch_size = global_batch_size
    self.last = {"loss": float("nan")}
    self._reset()

  def _reset(self):
    self._sums = {k: 0.0 for k in self._log_keys}
    self._steps, self._start = 0, time.time()

  def add(self, out: Mapping[str, tf.Tensor], num_steps: int) -> None:
    for k in self._log_keys:
      self._sums[k] += float(out[k])
    self._steps += num_steps

  def write(self, step: int, optimizer, skipped_records: np.ndarray,
            extra: Dict[str, float]) -> None:
    """Writes and logs the interval ending at `step`."""
    elapsed = max(time.time() - self._start, 1e-9)
    means = {k: v / self._steps for k, v in self._sums.items()}
    examples_per_second = self._steps * self._global_batch_size / elapsed
    eta = (self._train_steps - step) * elapsed / self._steps
    skipped = skip_counts.skip_counts_to_dict(skipped_records)
    learning_rate = current_learning_rate(optimizer)
    with self._writer.as_default():
      tf.summary.scalar("loss", means["step_loss"], step=step)
      for k in self._log_keys[1:]:
        tf.summary.scalar(k, means[k], step=step)
      for name, value in extra.items():
        tf.summary.scalar(name, value, step=step)
      tf.summary.scalar("learning_rate", learning_rate, step=step)
      tf.summary.scalar("examples_per_second", examples_per_second,
                        step=step)
      for reason, count in skipped.items():
        tf.summary.scalar(f"skipped_records/{reason}", count, step=step)
    shown = [(k, means[k]) for k in self._log_keys[1:]
             if k != "gradient_norm"]
    logging.info(
        "step %d/%d loss %.4f %s lr %.3g %.1f ex/s skipped %d ETA %s",
        step, self._train_steps, means["step_loss"],
        " ".join(f"{k} {v:.4g}" for k, v in shown + list(extra.items())),
        learning_rate, examples_per_second, sum(skipped.values()),
        format_eta(eta))
    self.last = dict(means, loss=means["step_loss"])
    self._reset()
