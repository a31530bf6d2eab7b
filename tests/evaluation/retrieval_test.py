"""R@K on hand-computed matrices, with several captions per image and ties;
the tiled computation against the whole matrix and a naive reference."""
import tracemalloc

import numpy as np
import pytest

from official.align.evaluation import retrieval


def test_recall_one_caption_per_image():
  # scores = images @ texts.T = [[.9, .8, 0], [1, .2, 0], [0, 0, 1]]
  images = np.eye(3)
  texts = np.array([[0.9, 1.0, 0.0], [0.8, 0.2, 0.0], [0.0, 0.0, 1.0]])
  got = retrieval.recall_at_k(images, texts, [0, 1, 2], ks=(1, 2))
  # i2t: image 0 ranks text 0 first; image 1 ranks text 0 (.9) above its
  # own text 1 (.2) → rank 1; image 2 first.
  assert got["image_to_text_R@1"] == pytest.approx(2 / 3)
  assert got["image_to_text_R@2"] == 1.0
  # t2i: text 0 scores images (.9, 1, 0): its image 0 is second; text 1
  # (.8, .2, 0) → image 1 second; text 2 first.
  assert got["text_to_image_R@1"] == pytest.approx(1 / 3)
  assert got["text_to_image_R@2"] == 1.0
  assert got["rsum"] == pytest.approx(100 * (2 / 3 + 1 + 1 / 3 + 1))


def test_recall_with_five_captions_per_image_uses_best_caption():
  rng = np.random.default_rng(0)
  images = np.eye(2)
  # Image 0 has texts 0-4, image 1 texts 5-9. Image 0's best caption (#3)
  # beats every caption of image 1; all its other captions do not.
  texts = np.zeros((10, 2))
  texts[:5, 0] = [0.1, 0.1, 0.1, 0.9, 0.1]
  texts[:5, 1] = 0.5
  texts[5:, 0] = 0.5
  texts[5:, 1] = rng.uniform(0.6, 0.7, 5)
  owner = [0] * 5 + [1] * 5
  got = retrieval.recall_at_k(images, texts, owner, ks=(1,))
  assert got["image_to_text_R@1"] == 1.0
  # Texts 0,1,2,4 score image 1 (.5) above image 0 (.1); text 3 and all of
  # image 1's texts are right: 6 of 10.
  assert got["text_to_image_R@1"] == pytest.approx(0.6)


def _ties_case():
  """3 images × 5 captions with exact ties, and the hand-derived ranks.

  Scores are small multiples of 1/4 (exact in binary), so ties are exact:
  image i's row is `scores[i]`; captions 5i..5i+4 belong to image i.
  """
  scores = np.array([
      # image 0: best own caption 0.5 (t1), tied by t7 (image 1) → rank 0;
      # t12 (0.75) beats it → rank 1.
      [0.25, 0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0,
       0.0, 0.0, 0.75, 0.0, 0.0],
      # image 1: best own 0.25 (t5, t6 tied among themselves); t0, t1, t2
      # score 0.5 → rank 3.
      [0.5, 0.5, 0.5, 0.0, 0.0, 0.25, 0.25, 0.0, 0.0, 0.0,
       0.0, 0.25, 0.0, 0.0, 0.0],
      # image 2: best own 1.0 (t10) → rank 0.
      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
       1.0, 0.0, 0.0, 0.0, 0.0],
  ])
  owner = np.repeat(np.arange(3), 5)
  i2t = np.array([1, 3, 0])
  # t2i: text t's own score vs. the other images' (strictly greater counts).
  t2i = np.array([
      1,  # t0: own .25 < image 1's .5
      0,  # t1: own .5 ties image 1's .5 → tie favours the positive
      1,  # t2: own 0 < .5
      0, 0,  # t3 (.25 vs 0), t4 (0 vs 0, 0: ties)
      0, 0,  # t5, t6: own .25 > 0
      1,  # t7: own 0 < image 0's .5
      0, 0,  # t8, t9: all zero
      0,  # t10: own 1.0
      1,  # t11: own 0 < image 1's .25
      1,  # t12: own 0 < image 0's .75
      0, 0])
  return scores, owner, i2t, t2i


def _as_embeddings(scores):
  """images = identity rows, texts = scores.T: images @ texts.T == scores."""
  return np.eye(scores.shape[0]), scores.T.copy()


def test_ranks_with_ties_and_five_captions_per_image():
  scores, owner, want_i2t, want_t2i = _ties_case()
  images, texts = _as_embeddings(scores)
  for block_size in (None, 1, 2, 4, 7):
    i2t, t2i = retrieval.retrieval_ranks(images, texts, owner, block_size)
    np.testing.assert_array_equal(i2t, want_i2t, err_msg=str(block_size))
    np.testing.assert_array_equal(t2i, want_t2i, err_msg=str(block_size))
  got = retrieval.recall_at_k(images, texts, owner, ks=(1, 2, 5))
  assert got["image_to_text_R@1"] == pytest.approx(1 / 3)
  assert got["image_to_text_R@2"] == pytest.approx(2 / 3)
  assert got["image_to_text_R@5"] == 1.0
  assert got["text_to_image_R@1"] == pytest.approx(10 / 15)
  assert got["text_to_image_R@2"] == 1.0


def _naive_ranks(images, texts, owner):
  """The whole matrix, rank by rank (reference for random cases)."""
  scores = images @ texts.T
  i2t, t2i = [], []
  for i in range(len(images)):
    best = scores[i, owner == i].max()
    i2t.append(np.sum(scores[i, owner != i] > best))
  for t in range(len(texts)):
    t2i.append(np.sum(np.delete(scores[:, t], owner[t]) > scores[owner[t], t]))
  return np.array(i2t), np.array(t2i)


@pytest.mark.parametrize("seed", [0, 1])
def test_blockwise_equals_whole_matrix_and_naive_reference(seed):
  rng = np.random.default_rng(seed)
  num_images, dim = 37, 8
  images = rng.normal(size=(num_images, dim)).astype(np.float32)
  owner = np.repeat(np.arange(num_images), 5)
  # Captions near their image, shuffled so owners are not contiguous.
  texts = images[owner] + 1.5 * rng.normal(size=(len(owner), dim))
  order = rng.permutation(len(owner))
  texts, owner = texts[order].astype(np.float32), owner[order]
  # Exact duplicates make ties across images and tiles.
  texts[7] = texts[100]
  whole = retrieval.retrieval_ranks(images, texts, owner, block_size=None)
  naive = _naive_ranks(images, texts, owner)
  for got, want in zip(whole, naive):
    np.testing.assert_array_equal(got, want)
  for block_size in (1, 5, 16, 64):
    tiled = retrieval.retrieval_ranks(images, texts, owner, block_size)
    for got, want in zip(tiled, whole):
      np.testing.assert_array_equal(got, want)
  assert 0.0 < retrieval.recall_at_k(images, texts, owner)[
      "image_to_text_R@1"] < 1.0


def test_tiles_bound_memory():
  """600 × 3,000 scores (7.2 MB in float32) in 128² tiles stay small."""
  rng = np.random.default_rng(0)
  images = rng.normal(size=(600, 16)).astype(np.float32)
  owner = np.repeat(np.arange(600), 5)
  texts = (images[owner] + rng.normal(size=(3000, 16))).astype(np.float32)
  tracemalloc.start()
  try:
    retrieval.retrieval_ranks(images, texts, owner, block_size=128)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert peak < 7.2e6 / 8, peak


def test_validation():
  with pytest.raises(ValueError):
    retrieval.recall_at_k(np.eye(2), np.eye(2), [0, 0])
  with pytest.raises(ValueError):
    retrieval.recall_at_k(np.eye(2), np.eye(2), [0])
  with pytest.raises(ValueError, match="differ"):
    retrieval.recall_at_k(np.eye(2), np.ones((2, 3)), [0, 1])
