# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Zero-shot and retrieval evaluation of an `AlignModel` on the demo world.

The demo world's eval split (`demo.world`) has one object per image, a
clean caption and a colour-shape label, some of them pairs never seen in
training. This module encodes that split and the 48 class prompts
(`world.templates()`) with a model and applies `zero_shot` and `retrieval`.
The demo's config plugs it into training:

    AlignTask.evaluator_fn = @build_demo_evaluator
    build_demo_evaluator.eval_file_pattern = 'WORLD/eval-*.tfrecord'
    build_demo_evaluator.labels_file = 'WORLD/eval_labels.json'
"""
import json
from typing import Dict, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.align.dataloaders import input_reader
from official.align.demo import world as demo_world
from official.align.evaluation import retrieval
from official.align.evaluation import zero_shot

DEMO_TEMPLATES = tuple(demo_world.templates())


def attribute_accuracies(scores: np.ndarray, labels: np.ndarray,
                         held_out: np.ndarray) -> Dict[str, float]:
  """How often the top-1 class has the right colour, and the right shape.

  Args:
    scores: float [N, 48] similarities to the `demo_world.class_names()`.
    labels: int [N] true class indices.
    held_out: bool [N], True for images of held-out pairs.

  Returns:
    {"zero_shot_{colour,shape}_accuracy_{seen,held_out}": float}; NaN for
    an empty group.
  """
  pairs = demo_world.all_pairs()
  colour = np.array([demo_world.COLOURS.index(c) for c, _ in pairs])
  shape = np.array([demo_world.SHAPES.index(s) for _, s in pairs])
  predicted = np.argmax(scores, axis=-1)
  out = {}
  for group, mask in (("seen", ~held_out), ("held_out", held_out)):
    for name, attribute in (("colour", colour), ("shape", shape)):
      hits = attribute[predicted[mask]] == attribute[labels[mask]]
      out[f"zero_shot_{name}_accuracy_{group}"] = (
          float(hits.mean()) if hits.size else float("nan"))
  return out


@gin.configurable(denylist=["model", "tokenizer", "dataset_fn",
                           "labels_file"])
class DemoWorldEvaluator:
  """Evaluates a model on the demo world's eval split, tracing once."""

  def __init__(self, model, tokenizer, dataset_fn, labels_file: str,
               templates: Sequence[str] = DEMO_TEMPLATES,
               text_batch_size: int = 256):
    """Configures the evaluator.

    Args:
      model: an `AlignModel`.
      tokenizer: the `TextTokenizer` of the training data.
      dataset_fn: () -> the eval split, batches of `InputReader(
        is_training=False, return_text=True, drop_remainder=False)`.
      labels_file: the world's eval_labels.json.
      templates: prompt templates with one "{}" for the class name.
      text_batch_size: texts encoded per call (padded to this size).
    """
    self._model = model
    self._tokenizer = tokenizer
    self._dataset_fn = dataset_fn
    self._templates = tuple(templates)
    self._text_batch_size = text_batch_size
    with tf.io.gfile.GFile(labels_file) as f:
      self._label_by_key = {r["key"]: r for r in json.load(f)}
    self._encode_image = tf.function(
        lambda images: model.encode_image(images, training=False),
        reduce_retracing=True)
    self._encode_text = tf.function(
        lambda texts: model.encode_text(tokenizer(texts), training=False),
        input_signature=[tf.TensorSpec([None], tf.string)])

  def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
    """float32 [len(texts), dim] unit-norm text embeddings."""
    out = []
    n = self._text_batch_size
    for start in range(0, len(texts), n):
      out.append(self._encode_text(tf.constant(list(texts[start:start + n])))
                 .numpy())
    return np.concatenate(out, axis=0)

  def encode_eval_split(self, keep_images: int = 0) -> Dict:
    """Encodes the eval split.

    Args:
      keep_images: also return the first this many images (for figures).

    Returns:
      dict: `image_embeddings` float32 [N, dim], `keys` and `texts` (lists
      of str, N), `images` float32 [min(N, keep_images), H, W, 3].
    """
    embeddings, keys, texts, images = [], [], [], []
    kept = 0
    for batch in self._dataset_fn():
      embeddings.append(self._encode_image(batch["image"]).numpy())
      keys.extend(k.decode("utf-8") for k in batch["key"].numpy())
      texts.extend(t.decode("utf-8") for t in batch["text"].numpy())
      if kept < keep_images:
        images.append(batch["image"][:keep_images - kept].numpy())
        kept += images[-1].shape[0]
    return {
        "image_embeddings": np.concatenate(embeddings, axis=0),
        "keys": keys, "texts": texts,
        "images": (np.concatenate(images, axis=0) if images else
                   np.zeros([0, 1, 1, 3], np.float32)),
    }

  def evaluate(self, keep_images: int = 0) -> Dict:
    """Zero-shot top-1 (seen / held-out / all pairs) and R@1/5/10.

    Args:
      keep_images: how many images to keep for figures.

    Returns:
      dict with float `metrics` ({"zero_shot_top1_seen", "..._held_out",
      "..._all", "zero_shot_top5_all", the `attribute_accuracies`,
      "image_to_text_R@K", "text_to_image_R@K"}), `class_names` [48],
      `scores` float [N, 48], `labels` int [N], `held_out` bool [N], plus
      `encode_eval_split`'s outputs.
    """
    names = demo_world.class_names()
    index = {n: i for i, n in enumerate(names)}
    encoded = self.encode_eval_split(keep_images=keep_images)
    rows = [self._label_by_key[k] for k in encoded["keys"]]
    labels = np.array([index[r["pair"]] for r in rows])
    held_out = np.array([bool(r["held_out"]) for r in rows])

    prompts = zero_shot.build_prompts(names, self._templates)
    prompt_embeddings = self.encode_texts(prompts).reshape(
        len(names), len(self._templates), -1)
    class_embeds = zero_shot.class_embeddings(prompt_embeddings)
    scores = zero_shot.similarity(encoded["image_embeddings"], class_embeds)

    metrics = {
        "zero_shot_top1_seen": zero_shot.top_k_accuracy(
            scores[~held_out], labels[~held_out], 1),
        "zero_shot_top1_held_out": zero_shot.top_k_accuracy(
            scores[held_out], labels[held_out], 1),
        "zero_shot_top1_all": zero_shot.top_k_accuracy(scores, labels, 1),
        "zero_shot_top5_all": zero_shot.top_k_accuracy(scores, labels, 5),
    }
    metrics.update(attribute_accuracies(scores, labels, held_out))
    text_embeddings = self.encode_texts(encoded["texts"])
    metrics.update(retrieval.recall_at_k(
        encoded["image_embeddings"], text_embeddings,
        np.arange(len(encoded["texts"]))))
    return dict(encoded, metrics=metrics, class_names=names, scores=scores,
                labels=labels, held_out=held_out)


@gin.configurable(denylist=["model", "preprocessing", "config"])
def build_demo_evaluator(model, preprocessing: preprocessing_lib.Preprocessing,
                         config, eval_file_pattern: Optional[str] = None,
                         labels_file: Optional[str] = None
                         ) -> Optional[DemoWorldEvaluator]:
  """A `DemoWorldEvaluator` on the world's eval split (`AlignTask.evaluator_fn`).

  Args:
    model: the `AlignModel` being trained.
    preprocessing: the task's `Preprocessing`.
    config: the run's `TrainConfig` (its `eval_batch_size`).
    eval_file_pattern: the world's eval-*.tfrecord shards.
    labels_file: the world's eval_labels.json.

  Returns:
    The evaluator, or None if either file is not bound.
  """
  if not (eval_file_pattern and labels_file):
    return None
  reader = input_reader.InputReader(
      eval_file_pattern, config.eval_batch_size, is_training=False,
      deterministic=True, return_text=True, drop_remainder=False,
      preprocessing=preprocessing)
  return DemoWorldEvaluator(model, reader.tokenizer, lambda: reader(None),
                            labels_file)
