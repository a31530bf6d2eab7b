"""Synthetic unit embeddings for the index tests, and their exact top k."""
import numpy as np


def clustered(count, dim, num_clusters, seed):
  """float32 [count, dim] unit vectors around random unit centres."""
  rng = np.random.default_rng(seed)
  centres = rng.standard_normal((num_clusters, dim))
  points = centres[rng.integers(0, num_clusters, count)] + rng.standard_normal(
      (count, dim)) * 0.7
  return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(
      np.float32)


def naive_top_k(embeddings, queries, k):
  """int64 [num_queries, k]: rows by cosine, best first (ties: lower row)."""
  embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
  queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
  return np.argsort(-(queries @ embeddings.T), axis=1, kind="stable")[:, :k]
