# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Class names and prompt templates shipped with the package (data/*.txt).

Built-in lists, by name:

* class names: "imagenet" — the 1000 ImageNet-1k classes in label order
  (TFDS `imagenet2012` / sorted WordNet ids), with the readable names of
  Radford et al. 2021 (CLIP's notebook "Prompt_Engineering_for_ImageNet");
  class 744 ("projectile, missile") is named "projectile" and class 837
  "dark glasses", so that no two classes share a name (CLIP's list repeats
  "missile" and "sunglasses"). "demo_world" — the demo world's 48
  "colour shape" pairs.
* templates: "imagenet" — CLIP's 80 ImageNet templates; "demo_world" —
  the demo's evaluation templates (official/align/demo/templates.txt).

Any other value is read as a text file, one entry per line (blank lines
ignored). Templates contain "{}" where the class name goes.
"""
import importlib
import os
from typing import List

import tensorflow as tf

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CLASS_NAME_FILES = {"imagenet": "imagenet_class_names.txt"}
TEMPLATE_FILES = {"imagenet": "imagenet_templates.txt"}
# Lists that live with their project (its `class_names()`, `templates()`),
# imported by name only when asked for.
PROJECT_LISTS = {"demo_world": "official.align.demo.world"}
SINGLE_TEMPLATE = "a photo of a {}."


def _read_lines(path: str) -> List[str]:
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"File not found: {path}")
  with tf.io.gfile.GFile(path) as f:
    return [line.strip() for line in f if line.strip()]


def class_names(name_or_path: str) -> List[str]:
  """A built-in class-name list ("imagenet", "demo_world") or a file's lines.

  Raises:
    FileNotFoundError: neither a built-in name nor an existing file.
  """
  if name_or_path in PROJECT_LISTS:
    return importlib.import_module(PROJECT_LISTS[name_or_path]).class_names()
  if name_or_path in CLASS_NAME_FILES:
    return _read_lines(os.path.join(DATA_DIR, CLASS_NAME_FILES[name_or_path]))
  return _read_lines(name_or_path)


def templates(name_or_path: str) -> List[str]:
  """Built-in templates ("imagenet", "demo_world") or a file's lines.

  Raises:
    FileNotFoundError: neither a built-in name nor an existing file.
    ValueError: a template without exactly one "{}".
  """
  if name_or_path in PROJECT_LISTS:
    lines = importlib.import_module(PROJECT_LISTS[name_or_path]).templates()
  elif name_or_path in TEMPLATE_FILES:
    lines = _read_lines(os.path.join(DATA_DIR, TEMPLATE_FILES[name_or_path]))
  else:
    lines = _read_lines(name_or_path)
  check_templates(lines)
  return lines


def check_templates(template_list) -> None:
  """Raises ValueError unless every template has exactly one "{}"."""
  if not template_list:
    raise ValueError("No prompt templates given.")
  for template in template_list:
    if template.count("{}") != 1:
      raise ValueError(f"Template {template!r} needs exactly one '{{}}' for "
                       "the class name.")
