# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Image+text queries in the joint embedding space (NumPy, no model).

The paper (Jia et al. 2021, section 7) queries with an image plus (or minus)
a text: each embedding is L2-normalised, the two are added with weights, and
the sum is re-normalised before the cosine search.
"""
from typing import Optional

import numpy as np


def l2_normalize_rows(x: np.ndarray, epsilon: float = 1e-12) -> np.ndarray:
  """float32 x / ||x|| along the last axis (rows of zeros stay zero)."""
  x = np.asarray(x, np.float32)
  norm = np.linalg.norm(x, axis=-1, keepdims=True)
  return x / np.maximum(norm, epsilon)


def combine_queries(image_emb: Optional[np.ndarray],
                    text_emb: Optional[np.ndarray],
                    image_weight: float = 1.0,
                    text_weight: float = 1.0) -> np.ndarray:
  """Weighted sum of normalised image and text embeddings, re-normalised.

  Args:
    image_emb: float [dim] or [n, dim], or None for a text-only query.
    text_emb: float [dim] or [n, dim] (broadcast against `image_emb`), or
      None for an image-only query.
    image_weight: weight of the image embedding; negative subtracts.
    text_weight: weight of the text embedding; negative subtracts
      (e.g. image of a red car, text "red" with weight -1).

  Returns:
    float32 [dim] or [n, dim] with unit L2 norm.

  Raises:
    ValueError: both inputs are None, dimensions differ, or a combination
      is (numerically) zero, which has no direction to search along.
  """
  parts = [(w, e) for w, e in ((image_weight, image_emb),
                               (text_weight, text_emb)) if e is not None]
  if not parts:
    raise ValueError("combine_queries needs an image or a text embedding.")
  dims = {np.shape(e)[-1] for _, e in parts}
  if len(dims) != 1:
    raise ValueError(f"Image and text embeddings differ in size: {dims}.")
  query = sum(float(w) * l2_normalize_rows(e) for w, e in parts)
  norm = np.linalg.norm(query, axis=-1)
  if np.any(norm < 1e-6):
    raise ValueError(
        "The weighted query is zero (weights "
        f"image={image_weight}, text={text_weight}); it has no direction.")
  return l2_normalize_rows(query)
