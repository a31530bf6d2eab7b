# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Image-text retrieval recall at K on embeddings (NumPy, no model).

Handles several captions per image (MS-COCO / Flickr30K have 5): texts are
given with the index of their image.

* image→text R@K: fraction of images for which at least one of their
  captions is among the K texts most similar to the image.
* text→image R@K: fraction of texts whose image is among the K images most
  similar to the text.
"""
from typing import Dict, Sequence

import numpy as np


def _ranks_of_best_positive(scores: np.ndarray,
                            positives: np.ndarray) -> np.ndarray:
  """0-based rank of the best-ranked positive column of each row.

  A column ties with the best positive only if it scores strictly higher
  (ties favour the positive).

  Args:
    scores: float [rows, columns].
    positives: bool [rows, columns], at least one True per row.
  """
  best_positive = np.max(np.where(positives, scores, -np.inf), axis=1)
  return np.sum(scores > best_positive[:, None], axis=1)


def recall_at_k(image_embeddings: np.ndarray,
                text_embeddings: np.ndarray,
                text_to_image: Sequence[int],
                ks: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
  """R@K in both directions.

  Args:
    image_embeddings: float [num_images, dim] (L2-normalised for cosine).
    text_embeddings: float [num_texts, dim].
    text_to_image: int [num_texts], the image each text describes; every
      image needs at least one text.
    ks: the K values.

  Returns:
    {"image_to_text_R@K": ..., "text_to_image_R@K": ...} for each K, in [0, 1].
  """
  image_embeddings = np.asarray(image_embeddings, np.float64)
  text_embeddings = np.asarray(text_embeddings, np.float64)
  text_to_image = np.asarray(text_to_image)
  num_images = image_embeddings.shape[0]
  if text_to_image.shape != (text_embeddings.shape[0],):
    raise ValueError("text_to_image needs one image index per text.")
  if len(set(text_to_image.tolist())) != num_images:
    raise ValueError("Every image needs at least one text.")
  scores = image_embeddings @ text_embeddings.T  # [images, texts]
  positives = text_to_image[None, :] == np.arange(num_images)[:, None]
  i2t_ranks = _ranks_of_best_positive(scores, positives)
  t2i_ranks = _ranks_of_best_positive(scores.T, positives.T)
  out = {}
  for k in ks:
    out[f"image_to_text_R@{k}"] = float(np.mean(i2t_ranks < k))
    out[f"text_to_image_R@{k}"] = float(np.mean(t2i_ranks < k))
  return out
