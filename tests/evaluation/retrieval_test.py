"""R@K on hand-computed matrices, with several captions per image."""
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


def test_validation():
  with pytest.raises(ValueError):
    retrieval.recall_at_k(np.eye(2), np.eye(2), [0, 0])
  with pytest.raises(ValueError):
    retrieval.recall_at_k(np.eye(2), np.eye(2), [0])
