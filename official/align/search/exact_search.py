# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Exact top-k maximum inner product search, scores independent of layout.

`exact_top_k` scans stored rows (`vectors`: float32 unit rows, or int8
codes with row scales) block by block with BLAS and re-scores its best
candidates with `fixed_order_scores`, whose sums do not depend on a row's
position, block or shard, nor on how many queries are batched. A search
over one index and a merge of searches over its shards therefore return
the same ids and the same scores, bit for bit (`sharded_index`).
"""
from typing import Optional, Tuple

import numpy as np


def fixed_order_scores(queries: np.ndarray, rows: np.ndarray,
                       scales: Optional[np.ndarray] = None) -> np.ndarray:
  """Inner products computed in one fixed order, whatever the layout.

  The products of float32 numbers are exact in float64 and are summed
  pairwise along a contiguous axis of the same length for every row, so a
  score depends only on the query and the row: not on the row's position,
  block or shard, nor on how many queries are batched (BLAS matrix products
  differ in the last bit between such layouts).

  Args:
    queries: float32 [num_queries, dim].
    rows: stored rows [num_queries, m, dim] (float32, or int8 codes).
    scales: float32 [num_queries, m] row scales of int8 codes, or None.

  Returns:
    float32 [num_queries, m].
  """
  products = (np.asarray(rows, np.float64)
              * np.asarray(queries, np.float64)[:, None, :])
  scores = products.sum(axis=-1)
  if scales is not None:
    scores = scores * np.asarray(scales, np.float64)
  return scores.astype(np.float32)


def _blas_error_margin(dim: int) -> float:
  """Twice the largest difference of two float32 dot products of unit rows.

  A float32 dot product of length `dim` is within gamma = dim * 2^-24 (plus
  one rounding of a row scale) of the true one for unit vectors, so a BLAS
  score and a fixed-order score differ by at most 2 gamma; candidates within
  twice that of the k-th BLAS score hold the fixed-order top k. Doubled
  again for rows that are unit only to 1e-3.
  """
  return 8.0 * (dim + 2) * 2.0 ** -24


def _blas_top(embeddings, queries, count, scales, block_rows):
  """(rows, BLAS scores) of the best `count` rows per query, best first."""
  best_idx = np.zeros([queries.shape[0], 0], np.int64)
  best_scores = np.zeros([queries.shape[0], 0], np.float32)
  for start in range(0, embeddings.shape[0], block_rows):
    block = embeddings[start:start + block_rows]
    scores = queries @ np.asarray(block, np.float32).T
    if scales is not None:
      scores *= scales[start:start + block_rows]
    k = min(count, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_idx = np.concatenate([best_idx, part + start], axis=1)
    best_scores = np.concatenate(
        [best_scores, np.take_along_axis(scores, part, axis=1)], axis=1)
    if best_idx.shape[1] > count:
      order = np.lexsort((best_idx, -best_scores), axis=1)[:, :count]
      best_idx = np.take_along_axis(best_idx, order, axis=1)
      best_scores = np.take_along_axis(best_scores, order, axis=1)
  order = np.lexsort((best_idx, -best_scores), axis=1)
  return (np.take_along_axis(best_idx, order, axis=1),
          np.take_along_axis(best_scores, order, axis=1))


def exact_top_k(embeddings: np.ndarray, queries: np.ndarray, top_k: int,
                block_rows: int = 65_536,
                scales: Optional[np.ndarray] = None,
                extra_candidates: int = 16) -> Tuple[np.ndarray, np.ndarray]:
  """Exact maximum inner product search, scores independent of the layout.

  BLAS scores all rows block by block and keeps the best `top_k +
  extra_candidates`; those are re-scored by `fixed_order_scores` and the
  top k of the re-scored ones returned. A query whose kept candidates do
  not reach `_blas_error_margin` below its k-th BLAS score is redone with
  more candidates, so the result is the top k by fixed-order score: the
  same ids and scores over one index or over shards of it, for one query
  or a batch.

  Args:
    embeddings: stored rows [count, dim]: float32 unit rows, or int8 codes
      with `scales`.
    queries: float32 [num_queries, dim], unit rows.
    top_k: neighbours per query (at most `count`).
    block_rows: rows of `embeddings` scored at a time (bounds the memory of
      the score matrix to `num_queries * block_rows` floats).
    scales: float32 [count] row scales of int8 codes, or None.
    extra_candidates: candidates beyond `top_k` kept from the BLAS pass.

  Returns:
    (indices int64 [num_queries, top_k], scores float32 [num_queries, top_k]),
    best first; equal scores are ordered by row index.
  """
  count = embeddings.shape[0]
  top_k = min(top_k, count)
  queries = np.asarray(queries, np.float32)
  margin = _blas_error_margin(queries.shape[1])
  indices = np.zeros([queries.shape[0], top_k], np.int64)
  scores = np.zeros([queries.shape[0], top_k], np.float32)
  pending = np.arange(queries.shape[0])
  candidates = top_k + extra_candidates
  while pending.size:
    keep = min(candidates, count)
    rows, blas = _blas_top(embeddings, queries[pending], keep, scales,
                           block_rows)
    # Rows left out score at most blas[:, -1]: done if that is below the
    # margin under the k-th score (or every row was kept).
    done = (keep == count) | (blas[:, -1] < blas[:, top_k - 1] - margin)
    selected = rows[done]
    rescored = fixed_order_scores(
        queries[pending[done]], embeddings[selected],
        None if scales is None else scales[selected])
    order = np.lexsort((selected, -rescored), axis=1)[:, :top_k]
    indices[pending[done]] = np.take_along_axis(selected, order, axis=1)
    scores[pending[done]] = np.take_along_axis(rescored, order, axis=1)
    pending = pending[~done]
    candidates *= 4
  return indices, scores
