# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Why records were skipped, how many, and when that is worth a warning.

The readers (`input_reader`, `transfer.classification_input`) count every
record they drop under one of `SKIP_REASONS` and ship the cumulative counts
with each batch (`skipped_records`, int64 [len(SKIP_REASONS)]). This module
names the reasons and turns counts into log lines; `SkipMonitor` warns once
when a run skips a high fraction of its first records.
"""
from typing import Dict, Sequence

from absl import logging
import gin
import numpy as np

# In the order the checks run: a record is counted under the first that fails.
SKIP_REASONS = (
    "unreadable_shard",      # Records of a shard lost to damage (TFRecord:
                             # each record from the damaged one on; a cut
                             # tar: one), or a shard that cannot be opened
                             # (one); the path printed.
    "record_too_large",      # A tar member above the size cap, or sparse.
    "malformed_record",      # Not a parsable tf.train.Example / tar sample.
    "missing_feature",       # No image or no caption.
    "invalid_utf8",          # The caption is not UTF-8.
    "empty_caption",         # Empty or whitespace-only caption.
    "zero_size_image",       # Empty image bytes, or a header with a 0 side.
    "unknown_image_format",  # No JPEG/PNG/GIF/BMP/WebP magic bytes.
    "image_too_large",       # The header declares more than `max_pixels`.
    "decode_error",          # The image bytes fail to decode.
)
# The `reason` of a record that is not skipped (in-band markers of the shard
# readers carry an index of SKIP_REASONS instead, and how many records they
# stand for).
NOT_SKIPPED = -1
# The `reason` of the marker a reader puts after each pass over its shards.
END_OF_PASS = -2


def reason_index(name: str) -> int:
  """Index of `name` in SKIP_REASONS (ValueError naming it if unknown)."""
  if name not in SKIP_REASONS:
    raise ValueError(f"Unknown skip reason {name!r}; known: {SKIP_REASONS}.")
  return SKIP_REASONS.index(name)


def skip_counts_to_dict(counts) -> Dict[str, int]:
  """int [len(SKIP_REASONS)] -> {reason: count} (for logging)."""
  counts = np.asarray(counts)
  return {name: int(c) for name, c in zip(SKIP_REASONS, counts)}


def total_skipped(per_replica_counts: Sequence) -> np.ndarray:
  """Totals the `skipped_records` of the local replicas of one host.

  Args:
    per_replica_counts: the `skipped_records` of each local replica (e.g.
      `strategy.experimental_local_results(batch["skipped_records"])`), all
      fed by this host's single input pipeline.

  Returns:
    int64 [len(SKIP_REASONS)]: the pipeline's cumulative counts (max over the
    replicas, since they share the pipeline).
  """
  return np.max(np.stack([np.asarray(c) for c in per_replica_counts]), axis=0)


def format_counts(counts) -> str:
  """'decode_error 3, empty_caption 1' (the non-zero reasons), or 'none'."""
  items = [f"{name} {count}" for name, count in
           skip_counts_to_dict(counts).items() if count]
  return ", ".join(items) or "none"


@gin.configurable
class SkipMonitor:
  """Warns once when too many of the first records of a run are skipped.

  Feed it the cumulative counts as they arrive (`update`); once `window`
  records have been seen (read + skipped), or at `finish` if fewer ever are,
  it logs one warning if more than `threshold` of them were skipped.
  """

  def __init__(self, threshold: float = 0.5, window: int = 10_000):
    """Args: threshold: fraction of records skipped that warns; window: the
    number of first records the fraction is taken over."""
    if not 0.0 <= threshold <= 1.0:
      raise ValueError(f"threshold must be in [0, 1], got {threshold}.")
    self.threshold = threshold
    self.window = window
    self._last = None
    self.warned = False
    self.checked = False

  def update(self, counts, records_read: int) -> None:
    """`counts`: cumulative skips [len(SKIP_REASONS)]; `records_read`: the
    records yielded so far by the same pipeline."""
    self._last = (np.asarray(counts), int(records_read))
    if not self.checked and self._seen() >= self.window:
      self._check()

  def finish(self) -> None:
    """Checks what was seen if the window was never filled."""
    if not self.checked and self._last is not None:
      self._check()

  def _seen(self) -> int:
    counts, read = self._last
    return int(counts.sum()) + read

  def _check(self) -> None:
    self.checked = True
    counts, _ = self._last
    seen, skipped = self._seen(), int(counts.sum())
    if seen and skipped > self.threshold * seen:
      self.warned = True
      logging.warning(
          "%d of the first %d records (%.1f%%) were skipped: %s. Check the "
          "shards (SkipMonitor.threshold = %g).", skipped, seen,
          100.0 * skipped / seen, format_counts(counts), self.threshold)
