# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Image-text retrieval recall at K on embeddings (NumPy, no model).

Handles several captions per image (MS-COCO / Flickr30K have 5): texts are
given with the index of their image.

* image→text R@K: fraction of images for which at least one of their
  captions is among the K texts most similar to the image.
* text→image R@K: fraction of texts whose image is among the K images most
  similar to the text.

The similarity matrix is computed in tiles, so 5k × 25k (MS-COCO 5k test)
and much larger sets fit in memory.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


DEFAULT_BLOCK_SIZE = 2048


def _blocks(n: int, size: int):
  return [(start, min(start + size, n)) for start in range(0, n, size)]


def retrieval_ranks(image_embeddings: np.ndarray,
                    text_embeddings: np.ndarray,
                    text_to_image: Sequence[int],
                    block_size: Optional[int] = DEFAULT_BLOCK_SIZE
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """0-based rank of the best positive, both directions, in blocks.

  The similarity matrix is computed in `block_size` × `block_size` tiles
  (never whole): a first pass reads each text's score with its own image
  from the tiles that hold it, a second counts, per image, the texts that
  beat its best caption and, per text, the images that beat its own image.
  Ties favour the positive (only strictly higher scores count). Both passes
  compute identical tiles, so the comparisons are exact.

  Args:
    image_embeddings: float [num_images, dim].
    text_embeddings: float [num_texts, dim].
    text_to_image: int [num_texts], the image each text describes; every
      image needs at least one text.
    block_size: tile side; None = one tile (the whole matrix).

  Returns:
    (image_to_text_ranks int [num_images], text_to_image_ranks int
    [num_texts]).
  """
  image_embeddings = np.asarray(image_embeddings)
  text_embeddings = np.asarray(text_embeddings)
  dtype = np.result_type(image_embeddings.dtype, text_embeddings.dtype,
                         np.float32)
  image_embeddings = image_embeddings.astype(dtype, copy=False)
  text_embeddings = text_embeddings.astype(dtype, copy=False)
  text_to_image = np.asarray(text_to_image, np.int64)
  num_images, num_texts = image_embeddings.shape[0], text_embeddings.shape[0]
  if text_to_image.shape != (num_texts,):
    raise ValueError("text_to_image needs one image index per text.")
  if np.any((text_to_image < 0) | (text_to_image >= num_images)) or (
      np.unique(text_to_image).size != num_images):
    raise ValueError("Every image needs at least one text, and every text "
                     "an image in [0, num_images).")
  if image_embeddings.shape[1] != text_embeddings.shape[1]:
    raise ValueError("Image and text embeddings differ in size.")
  size = block_size or max(num_images, num_texts)
  image_blocks, text_blocks = _blocks(num_images, size), _blocks(
      num_texts, size)

  def tile(i0, i1, t0, t1):
    return image_embeddings[i0:i1] @ text_embeddings[t0:t1].T

  positive_score = np.empty(num_texts, dtype)
  for i0, i1 in image_blocks:
    for t0, t1 in text_blocks:
      owners = text_to_image[t0:t1]
      columns = np.flatnonzero((owners >= i0) & (owners < i1))
      if columns.size:
        scores = tile(i0, i1, t0, t1)
        positive_score[t0 + columns] = scores[owners[columns] - i0, columns]
  best_positive = np.full(num_images, -np.inf, dtype)
  np.maximum.at(best_positive, text_to_image, positive_score)

  i2t_ranks = np.zeros(num_images, np.int64)
  t2i_ranks = np.zeros(num_texts, np.int64)
  for i0, i1 in image_blocks:
    for t0, t1 in text_blocks:
      scores = tile(i0, i1, t0, t1)
      negative = text_to_image[None, t0:t1] != np.arange(i0, i1)[:, None]
      i2t_ranks[i0:i1] += np.sum(
          (scores > best_positive[i0:i1, None]) & negative, axis=1)
      t2i_ranks[t0:t1] += np.sum(
          (scores > positive_score[None, t0:t1]) & negative, axis=0)
  return i2t_ranks, t2i_ranks


def recall_at_k(image_embeddings: np.ndarray,
                text_embeddings: np.ndarray,
                text_to_image: Sequence[int],
                ks: Sequence[int] = (1, 5, 10),
                block_size: Optional[int] = DEFAULT_BLOCK_SIZE
                ) -> Dict[str, float]:
  """R@K in both directions, and their sum.

  Args:
    image_embeddings: float [num_images, dim] (L2-normalised for cosine).
    text_embeddings: float [num_texts, dim].
    text_to_image: int [num_texts], the image each text describes; every
      image needs at least one text.
    ks: the K values.
    block_size: tile side of the blockwise similarity (`retrieval_ranks`);
      None computes the whole matrix at once.

  Returns:
    {"image_to_text_R@K": ..., "text_to_image_R@K": ...} for each K, in
    [0, 1], and "rsum": the sum of all of them in percentage points (the
    "R-sum" of retrieval papers; 600 is perfect for K = 1, 5, 10).
  """
  i2t_ranks, t2i_ranks = retrieval_ranks(image_embeddings, text_embeddings,
                                         text_to_image, block_size)
  out = {}
  for k in ks:
    out[f"image_to_text_R@{k}"] = float(np.mean(i2t_ranks < k))
    out[f"text_to_image_R@{k}"] = float(np.mean(t2i_ranks < k))
  out["rsum"] = 100.0 * sum(out.values())
  return out
