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


def _relative_parts(value, what: str) -> List[str]:
  """Components of a relative path that stays inside its directory."""
  if not isinstance(value, str) or not value.strip():
    raise ValueError(f"{what} must be a non-empty string, got {value!r}")
  if value.startswith(("/", "\\")) or "://" in value or (
      len(value) > 1 and value[1] == ":"):
    raise ValueError(f"{what} {value!r} is an absolute path; paths are "
                     "relative to --image_dir")
  parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
  if ".." in parts:
    raise ValueError(f"{what} {value!r} leaves --image_dir (..)")
  return parts


def _check_entry(entry) -> None:
  """Raises ValueError naming the first malformed field of an images[] entry."""
  if not isinstance(entry, dict):
    raise ValueError(f"must be an object, got {type(entry).__name__}")
  _relative_parts(entry.get("filename"), "filename")
  if entry.get("filepath") is not None:
    _relative_parts(entry["filepath"], "filepath")
  sentences = entry.get("sentences")
  if not isinstance(sentences, list) or not sentences:
    raise ValueError(f"sentences must be a non-empty list, got "
                     f"{sentences!r}")
  for number, sentence in enumerate(sentences):
    raw = sentence.get("raw") if isinstance(sentence, dict) else None
    if not isinstance(raw, str) or not raw.strip():
      raise ValueError(f"sentences[{number}] has no caption text ('raw' "
                       f"string), got {sentence!r}")


def _image_path(image_dir: str, entry: dict) -> str:
  """image_dir/filepath/filename if it exists, else image_dir/filename.

  Raises:
    ValueError: the path leads out of `image_dir` (through a link).
  """
  filename = "/".join(_relative_parts(entry["filename"], "filename"))
  path = os.path.join(image_dir, filename)
  if entry.get("filepath"):
    nested = os.path.join(image_dir, *_relative_parts(entry["filepath"],
                                                       "filepath"), filename)
    if tf.io.gfile.exists(nested):
      path = nested
  if "://" not in image_dir:
    root = os.path.realpath(image_dir)
    if not os.path.realpath(path).startswith(root.rstrip("/") + "/"):
      raise ValueError(f"{path} leads out of --image_dir {image_dir} (a "
                       "symbolic link)")
  return path


def load_karpathy(json_path: str, image_dir: str,
                  splits: Sequence[str] = ("test",),
                  captions_per_image: Optional[int] = 5,
                  max_images: Optional[int] = None) -> RetrievalSet:
  """Reads one or more splits of a Karpathy split JSON.

  The JSON is data: every entry of the chosen splits is validated (an
  object with a `filename` string, optional `filepath`, a non-empty list of
  `sentences` with `raw` strings) and image paths must stay inside
  `image_dir` (no absolute paths, no `..`, no link leading out); call this
  before loading a model, so that a bad file fails fast.

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
    ValueError: a malformed JSON or entry (one line naming the entry), a
      path outside `image_dir`, or no image in the splits.
  """
  if not tf.io.gfile.exists(json_path):
    raise FileNotFoundError(f"Karpathy split JSON not found: {json_path}")
  if not tf.io.gfile.isdir(image_dir):
    raise FileNotFoundError(f"Image directory not found: {image_dir}")
  try:
    with tf.io.gfile.GFile(json_path) as f:
      data = json.load(f)
  except ValueError as e:
    raise ValueError(f"{json_path} is not valid JSON: {e}") from e
  if not isinstance(data, dict) or not isinstance(data.get("images"), list):
    raise ValueError(f"{json_path} has no 'images' list (expected the "
                     "Karpathy split format).")
  entries = []
  for number, entry in enumerate(data["images"]):
    if not isinstance(entry, dict):
      raise ValueError(f"{json_path}: images[{number}] must be an object, "
                       f"got {type(entry).__name__}.")
    if entry.get("split") in set(splits):
      entries.append((number, entry))
  if not entries:
    found = sorted({str(e.get("split")) for e in data["images"]})
    raise ValueError(f"No images of split(s) {list(splits)} in {json_path} "
                     f"(it has {found}).")
  if max_images:
    entries = entries[:max_images]
  image_paths, captions, text_to_image = [], [], []
  short = 0
  for index, (number, entry) in enumerate(entries):
    try:
      _check_entry(entry)
      path = _image_path(image_dir, entry)
    except ValueError as e:
      raise ValueError(f"{json_path}: images[{number}] "
                       f"({entry.get('filename')!r}): {e}.") from None
    raws = [s["raw"].strip() for s in entry["sentences"]]
    if captions_per_image:
      short += len(raws) < captions_per_image
      raws = raws[:captions_per_image]
    image_paths.append(path)
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
