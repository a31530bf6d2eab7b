# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Zero-shot classification maths on embeddings (NumPy, no model).

Class embeddings use prompt ensembling (Radford et al. 2021): every class
name is written into several templates, each prompt embedding is
L2-normalised, the class embedding is their mean, re-normalised. Images are
then classified by cosine similarity to the class embeddings.
"""
from typing import Callable, Dict, Sequence

import numpy as np

DEFAULT_TEMPLATES = ("a {}", "a photo of a {}", "{}", "an image of a {}")


def l2_normalize(x: np.ndarray, axis: int = -1,
                 epsilon: float = 1e-12) -> np.ndarray:
  """x / ||x|| along `axis` (rows of zeros stay zero)."""
  x = np.asarray(x, np.float64)
  norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
  return x / np.maximum(norm, epsilon)


def build_prompts(class_names: Sequence[str],
                  templates: Sequence[str] = DEFAULT_TEMPLATES
                  ) -> list:
  """Class-major prompts: [t.format(c) for c in class_names for t in templates].

  Returns:
    A list of len(class_names) * len(templates) strings; prompt
    `i * len(templates) + j` is class i in template j.
  """
  return [t.format(c) for c in class_names for t in templates]


def class_embeddings(prompt_embeddings: np.ndarray) -> np.ndarray:
  """Prompt-ensembled class embeddings.

  Args:
    prompt_embeddings: float [num_classes, num_templates, dim] (or
      [num_classes * num_templates, dim] reshaped by the caller).

  Returns:
    float64 [num_classes, dim], unit L2 norm: mean over templates of the
    L2-normalised prompt embeddings, re-normalised.
  """
  prompt_embeddings = np.asarray(prompt_embeddings)
  if prompt_embeddings.ndim != 3:
    raise ValueError("prompt_embeddings must be [classes, templates, dim], "
                     f"got shape {prompt_embeddings.shape}")
  return l2_normalize(l2_normalize(prompt_embeddings).mean(axis=1))


def similarity(image_embeddings: np.ndarray,
               class_embeds: np.ndarray) -> np.ndarray:
  """Cosine similarity float [num_images, num_classes] (inputs normalised)."""
  return l2_normalize(image_embeddings) @ l2_normalize(class_embeds).T


def top_k_predictions(scores: np.ndarray, k: int) -> np.ndarray:
  """int [num_images, k]: class indices by decreasing score (stable ties)."""
  return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[:, :k]


def top_k_accuracy(scores: np.ndarray, labels: Sequence[int],
                   k: int = 1) -> float:
  """Fraction of rows whose label is among their k best-scoring classes.

  Args:
    scores: float [num_images, num_classes].
    labels: int [num_images], the true class of each row.
    k: how many top classes count as a hit.

  Returns:
    The accuracy in [0, 1] (nan for zero rows).
  """
  labels = np.asarray(labels)
  if labels.size == 0:
    return float("nan")
  hits = top_k_predictions(scores, k) == labels[:, None]
  return float(np.mean(np.any(hits, axis=-1)))


def embed_prompts(embed_texts: Callable[[Sequence[str]], np.ndarray],
                  class_names: Sequence[str],
                  templates: Sequence[str] = DEFAULT_TEMPLATES
                  ) -> np.ndarray:
  """float [num_classes, num_templates, dim]: every class in every template.

  Args:
    embed_texts: list of strings → float [n, dim] (e.g.
      `inference.embedder.Embedder.embed_texts`).
    class_names: the class names, in label order.
    templates: prompt templates with one "{}".
  """
  if not class_names:
    raise ValueError("No class names given.")
  embeddings = np.asarray(embed_texts(build_prompts(class_names, templates)))
  return embeddings.reshape(len(class_names), len(templates), -1)


def text_classifier(embed_texts: Callable[[Sequence[str]], np.ndarray],
                    class_names: Sequence[str],
                    templates: Sequence[str] = DEFAULT_TEMPLATES
                    ) -> np.ndarray:
  """Prompt-ensembled class embeddings from a text encoder.

  Args:
    embed_texts: list of strings → float [n, dim].
    class_names: the class names, in label order.
    templates: prompt templates with one "{}"; a single template gives
      single-prompt classification.

  Returns:
    float32 [len(class_names), dim], unit L2 norm.
  """
  return class_embeddings(embed_prompts(embed_texts, class_names,
                                        templates)).astype(np.float32)


def top_k_hits(predictions: np.ndarray, labels: Sequence[int],
               k: int) -> np.ndarray:
  """bool [n]: label among the first k of each row of `predictions`.

  Args:
    predictions: int [n, >= k], class indices by decreasing score
      (`top_k_predictions`).
    labels: int [n].
    k: how many leading predictions count.
  """
  predictions = np.asarray(predictions)
  labels = np.asarray(labels)
  if predictions.shape[1] < k:
    raise ValueError(f"Need at least {k} predictions per row, got "
                     f"{predictions.shape[1]}.")
  return np.any(predictions[:, :k] == labels[:, None], axis=-1)


def per_class_accuracy(predictions: np.ndarray, labels: Sequence[int],
                       num_classes: int,
                       ks: Sequence[int] = (1, 5)) -> Dict[str, np.ndarray]:
  """Per-class example counts and top-k accuracies.

  Args:
    predictions: int [n, >= max(ks)] class indices by decreasing score.
    labels: int [n] in [0, num_classes).
    num_classes: number of classes.
    ks: the k values.

  Returns:
    {"count": int [num_classes], "top{k}": float [num_classes]} (nan for a
    class without examples).
  """
  labels = np.asarray(labels, np.int64)
  count = np.bincount(labels, minlength=num_classes)
  out = {"count": count}
  for k in ks:
    hits = np.bincount(labels, weights=top_k_hits(predictions, labels, k),
                       minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
      out[f"top{k}"] = np.where(count > 0, hits / np.maximum(count, 1),
                                np.nan)
  return out
