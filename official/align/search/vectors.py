# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Stored embedding rows: unit float32 rows, or int8 codes with row scales.

What an index keeps of its vectors (`index.STORAGES`): `l2_normalize` makes
the unit rows both storages start from, `quantize_int8` turns them into
int8 codes and float32 row scales, `dequantize` turns stored rows back into
float32 unit rows, and `RowView` shows stored rows as float32 rows read on
access (a `SearchIndex`'s or a `ShardedIndex`'s `embeddings`).
"""
from typing import Optional, Tuple

import numpy as np


def l2_normalize(x: np.ndarray, name: str = "embeddings") -> np.ndarray:
  """float32 rows of unit L2 norm; raises on zero or non-finite rows."""
  x = np.asarray(x, np.float32)
  norms = np.linalg.norm(x, axis=-1, keepdims=True)
  bad = ~np.isfinite(norms[..., 0]) | (norms[..., 0] == 0)
  if np.any(bad):
    raise ValueError(f"{name}: {int(bad.sum())} row(s) are zero or not "
                     f"finite (first: row {int(np.argmax(bad))}); they have no "
                     "direction to search with.")
  if np.all(np.abs(norms - 1) < 1e-6):
    return x  # Already unit rows: no copy of a large collection.
  return x / norms


def quantize_int8(embeddings: np.ndarray, block_rows: int = 65_536
                  ) -> Tuple[np.ndarray, np.ndarray]:
  """int8 codes and float32 row scales of unit rows (storage "int8").

  Args:
    embeddings: float [count, dim], rows not all zero.
    block_rows: rows converted at a time (bounds the float32 temporaries).

  Returns:
    (codes int8 [count, dim] = round(127 x / max|x|), scales float32 [count]
    = 1 / ||codes||): codes * scales are unit rows.
  """
  codes = np.empty(embeddings.shape, np.int8)
  scales = np.empty(embeddings.shape[0], np.float32)
  for start in range(0, embeddings.shape[0], block_rows):
    block = np.asarray(embeddings[start:start + block_rows], np.float32)
    peak = np.max(np.abs(block), axis=1, keepdims=True)
    block_codes = np.rint(block / peak * 127).astype(np.int8)
    codes[start:start + block_rows] = block_codes
    scales[start:start + block_rows] = 1.0 / np.linalg.norm(
        block_codes.astype(np.float32), axis=1)
  return codes, scales


def dequantize(rows: np.ndarray, scales: Optional[np.ndarray]) -> np.ndarray:
  """float32 rows from stored rows (`scales` None: already float32)."""
  if scales is None:
    return np.asarray(rows, np.float32)
  return np.asarray(rows, np.float32) * np.asarray(scales,
                                                   np.float32)[..., None]


class RowView:
  """Read-only float32 rows of stored embeddings, dequantised on access.

  `view[i]` (float32 [dim]), `view[rows]` ([n, dim]), `len(view)`, `shape`
  and `np.asarray(view)` (every row: count * dim * 4 bytes).
  """

  def __init__(self, row_fn, count: int, dim: int):
    """`row_fn`: int64 [n] row numbers → float32 [n, dim]."""
    self._row_fn = row_fn
    self.shape = (count, dim)

  def __len__(self) -> int:
    return self.shape[0]

  def __getitem__(self, rows):
    if isinstance(rows, slice):
      return self._row_fn(np.arange(self.shape[0])[rows])
    selected = np.asarray(rows, np.int64)
    if selected.ndim == 0:
      if not -self.shape[0] <= int(selected) < self.shape[0]:
        raise IndexError(f"row {int(selected)} of {self.shape[0]}")
      return self._row_fn(selected[None] % self.shape[0])[0]
    return self._row_fn(selected % self.shape[0])

  def __array__(self, dtype=None, copy=None):
    del copy  # Always a new array.
    rows = self._row_fn(np.arange(self.shape[0]))
    return rows if dtype is None else rows.astype(dtype)
