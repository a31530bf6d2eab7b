# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Flickr30K / MS-COCO retrieval sets from the Karpathy split JSON.

`dataset_flickr30k.json` and `dataset_coco.json` (Karpathy & Fei-Fei 2015)
list `images[]` with `filename`, `filepath` (COCO: "train2014"/"val2014"),
`split` ("train", "restval", "val", "test") and `sentences[].raw`. The
standard test sets: Flickr30K 1k images, MS-COCO 5k images, 5 captions each.
"""
import dataclasses
import json
import os
from typing import List, Optional, Sequence

from absl import logging
import tensorflow as tf


@dataclasses.dataclass
class RetrievalSet:
  """Images, their captions, and which image each caption describes.

  Attributes:
    image_paths: [num_images] image files.
    captions: [num_texts] caption strings, grouped by image.
    text_to_image: [num_texts] index into `image_paths`.
  """
  image_paths: List[str]
  captions: List[str]
  text_to_image: List[int]


def _image_path(image_dir: str, entry: dict) -> str:
  """image_dir/filepath/filename if it exists, else image_dir/filename."""
  filename = entry["filename"]
  if entry.get("filepath"):
    nested = os.path.join(image_dir, entry["filepath"], filename)
    if tf.io.gfile.exists(nested):
      return nested
  return os.path.join(image_dir, filename)


def load_karpathy(json_path: str, image_dir: str,
                  splits: Sequence[str] = ("test",),
                  captions_per_image: Optional[int] = 5,
                  max_images: Optional[int] = None) -> RetrievalSet:
  """Reads one or more splits of a Karpathy split JSON.

  Args:
    json_path: dataset_flickr30k.json / dataset_coco.json.
    image_dir: the image directory (COCO: the folder holding train2014/
      and val2014/, or all images flat).
    splits: split names to keep (e.g. ("test",), ("train", "restval")).
    captions_per_image: keep the first this many captions of each image
      (the benchmarks use 5; COCO has a few images with 6 or 7); None keeps
      all. An image with fewer keeps what it has.
    max_images: keep only the first this many images (quick runs).

  Returns:
    A `RetrievalSet`.

  Raises:
    FileNotFoundError: the JSON, the image dir or an image file is missing
      (the message names the first missing file and the count).
    ValueError: a malformed JSON, no image in the splits, or an image
      without captions.
  """
  if not tf.io.gfile.exists(json_path):
    raise FileNotFoundError(f"Karpathy split JSON not found: {json_path}")
  if not tf.io.gfile.isdir(image_dir):
    raise FileNotFoundError(f"Image directory not found: {image_dir}")
  with tf.io.gfile.GFile(json_path) as f:
    data = json.load(f)
  if not isinstance(data, dict) or "images" not in data:
    raise ValueError(f"{json_path} has no 'images' list (expected the "
                     "Karpathy split format).")
  entries = [e for e in data["images"] if e.get("split") in set(splits)]
  if not entries:
    found = sorted({str(e.get("split")) for e in data["images"]})
    raise ValueError(f"No images of split(s) {list(splits)} in {json_path} "
                     f"(it has {found}).")
  if max_images:
    entries = entries[:max_images]
  image_paths, captions, text_to_image = [], [], []
  short = 0
  for index, entry in enumerate(entries):
    raws = [s["raw"].strip() for s in entry.get("sentences", [])]
    if not raws:
      raise ValueError(f"Image {entry.get('filename')} in {json_path} has "
                       "no captions.")
    if captions_per_image:
      short += len(raws) < captions_per_image
      raws = raws[:captions_per_image]
    image_paths.append(_image_path(image_dir, entry))
    captions.extend(raws)
    text_to_image.extend([index] * len(raws))
  missing = [p for p in image_paths if not tf.io.gfile.exists(p)]
  if missing:
    raise FileNotFoundError(
        f"{len(missing)} of {len(image_paths)} images not found, e.g. "
        f"{missing[0]} (check --image_dir).")
  if short:
    logging.warning("%d images have fewer than %d captions.", short,
                    captions_per_image)
  return RetrievalSet(image_paths, captions, text_to_image)
