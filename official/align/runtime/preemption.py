# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""SIGTERM as a request to checkpoint and stop (preemptible VMs, TPUs)."""
import signal

from absl import logging


class Preemption:
  """Records SIGTERM; the loop checks `requested` between chunks."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread: no handler.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: checkpointing and stopping.")
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
