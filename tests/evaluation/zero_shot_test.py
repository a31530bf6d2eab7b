"""Zero-shot maths on hand-computed matrices."""
import numpy as np
import pytest

from official.align.evaluation import zero_shot


def test_build_prompts_is_class_major():
  assert zero_shot.build_prompts(["red circle", "blue star"],
                                 ["a {}", "photo of {}"]) == [
                                     "a red circle", "photo of red circle",
                                     "a blue star", "photo of blue star"]


def test_class_embeddings_normalise_each_prompt_then_the_mean():
  # Class 0: prompts (3, 0) and (0, 1): normalised (1, 0), (0, 1); mean
  # (.5, .5) → (1/√2, 1/√2). Without per-prompt normalisation the long first
  # prompt would dominate. Class 1: one direction twice → (0, 1).
  prompts = np.array([[[3.0, 0.0], [0.0, 1.0]],
                      [[0.0, 2.0], [0.0, 5.0]]])
  got = zero_shot.class_embeddings(prompts)
  np.testing.assert_allclose(got, [[2 ** -0.5, 2 ** -0.5], [0.0, 1.0]])
  with pytest.raises(ValueError):
    zero_shot.class_embeddings(prompts[0])


def test_top_k_accuracy():
  scores = np.array([[0.9, 0.1, 0.0],   # label 0: top-1 hit
                     [0.5, 0.4, 0.1],   # label 1: top-2 hit
                     [0.2, 0.5, 0.3],   # label 0: top-3 hit
                     [0.1, 0.2, 0.7]])  # label 2: top-1 hit
  labels = [0, 1, 0, 2]
  assert zero_shot.top_k_accuracy(scores, labels, 1) == 0.5
  assert zero_shot.top_k_accuracy(scores, labels, 2) == 0.75
  assert zero_shot.top_k_accuracy(scores, labels, 3) == 1.0
  np.testing.assert_array_equal(zero_shot.top_k_predictions(scores, 2),
                                [[0, 1], [0, 1], [1, 2], [2, 1]])
  assert np.isnan(zero_shot.top_k_accuracy(scores[:0], [], 1))


def test_similarity_is_cosine():
  images = np.array([[2.0, 0.0], [1.0, 1.0]])
  classes = np.array([[1.0, 0.0], [0.0, 3.0]])
  np.testing.assert_allclose(zero_shot.similarity(images, classes),
                             [[1.0, 0.0], [2 ** -0.5, 2 ** -0.5]])
