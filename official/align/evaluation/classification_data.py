# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Labelled image sets for zero-shot classification, read from local files.

Every source yields batches of *encoded* images (JPEG/PNG/GIF/BMP bytes),
their integer labels and a name per image (for messages), and knows its
class names in label order. Images are decoded by the encoder
(`inference.embedder.Embedder.embed_image_bytes`), exactly as in evaluation.

* `ImageFolder(root)`: one sub-directory per class (sorted names are the
  labels; "_" in a directory name reads as a space in the class name).
* `TfdsSource(name, data_dir, split)`: a TFDS image-classification dataset
  already prepared in `data_dir` (nothing is downloaded); the builder's code
  is not needed, TFDS reads the prepared files.
* `TfrecordSource(file_pattern, class_names)`: `tf.train.Example` records
  with an encoded image and an integer label under configurable keys
  (defaults: the ImageNet TFRecord layout of tensorflow/models).
* "demo_world:DIR": the demo world's eval split with its 48 colour-shape
  labels (`demo.eval_source.EvalSource`, loaded by name: `PROJECT_SOURCES`).

`parse_dataset("folder:DIR" | "tfds:NAME" | "tfrecord:GLOB" |
"demo_world:DIR", ...)` builds one from the CLI's `--dataset`.
"""
import importlib
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
# (encoded images, int64 labels [n], names [n]).
Batch = Tuple[List[bytes], np.ndarray, List[str]]

# Sources that live with their project (its `EvalSource(value)`), imported
# by name only when asked for.
PROJECT_SOURCES = {"demo_world": "official.align.demo.eval_source"}

class ImageFolder:
  """`root/<class>/<image>` files; labels follow the sorted class folders.

  Attributes:
    class_names: readable class names ("_" → " "), in label order.
    files: [(path, label)] of the image files, sorted.
    num_ignored_files: files without an image extension (not read).
  """

  def __init__(self, root: str,
               extensions: Sequence[str] = IMAGE_EXTENSIONS):
    if not tf.io.gfile.isdir(root):
      raise FileNotFoundError(f"Image folder not found: {root}")
    class_dirs = sorted(d.rstrip("/") for d in tf.io.gfile.listdir(root)
                        if tf.io.gfile.isdir(os.path.join(root, d)))
    if not class_dirs:
      raise ValueError(f"No class sub-directories in {root} (expected "
                       "root/<class name>/<image files>).")
    self.class_names = [d.replace("_", " ") for d in class_dirs]
    self.files = []
    self.num_ignored_files = 0
    extensions = tuple(e.lower() for e in extensions)
    for label, d in enumerate(class_dirs):
      for name in sorted(tf.io.gfile.listdir(os.path.join(root, d))):
        path = os.path.join(root, d, name)
        if tf.io.gfile.isdir(path):
          continue
        if name.lower().endswith(extensions):
          self.files.append((path, label))
        else:
          self.num_ignored_files += 1
    if not self.files:
      raise ValueError(f"No image files ({', '.join(extensions)}) under "
                       f"{root}.")

  @property
  def num_examples(self) -> int:
    return len(self.files)

  def batches(self, batch_size: int) -> Iterator[Batch]:
    for start in range(0, len(self.files), batch_size):
      chunk = self.files[start:start + batch_size]
      encoded = []
      for path, _ in chunk:
        with tf.io.gfile.GFile(path, "rb") as f:
          encoded.append(f.read())
      yield (encoded, np.array([label for _, label in chunk], np.int64),
             [path for path, _ in chunk])


def _record_batches(dataset: tf.data.Dataset, batch_size: int,
                    prefix: str) -> Iterator[Batch]:
  """Batches of a dataset of (bytes, label) pairs as `Batch`es."""
  index = 0
  for images, labels in dataset.batch(batch_size).as_numpy_iterator():
    names = [f"{prefix} #{index + i}" for i in range(len(labels))]
    index += len(labels)
    yield list(images), labels.astype(np.int64), names


class TfdsSource:
  """A prepared TFDS dataset in a local `data_dir` (never downloads).

  Attributes:
    class_names: `info.features[label_key].names` (underscores → spaces).
    num_examples: examples in the split.
  """

  def __init__(self, name: str, data_dir: str, split: Optional[str] = None,
               image_key: str = "image", label_key: str = "label"):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    if not data_dir or not tf.io.gfile.isdir(data_dir):
      raise FileNotFoundError(f"TFDS data_dir not found: {data_dir}")
    try:
      builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # pylint: disable=broad-except
      raise FileNotFoundError(
          f"No prepared TFDS dataset {name!r} in {data_dir}: {e}") from e
    if not builder.is_prepared():
      raise FileNotFoundError(
          f"TFDS dataset {name!r} is not prepared in {data_dir}; prepare it "
          "first (e.g. `tfds build` with manual_dir for ImageNet).")
    features = builder.info.features
    for key in (image_key, label_key):
      if key not in features:
        raise ValueError(f"TFDS dataset {name!r} has no feature {key!r}; "
                         f"features: {sorted(features.keys())}.")
    splits = builder.info.splits
    if split is None:
      split = next((s for s in ("validation", "test") if s in splits), None)
      if split is None:
        raise ValueError(f"Give a split of {name!r}: {sorted(splits)}.")
    if split not in splits:
      raise ValueError(f"TFDS dataset {name!r} has no split {split!r}: "
                       f"{sorted(splits)}.")
    self.name, self.split = name, split
    self.class_names = [n.replace("_", " ")
                        for n in features[label_key].names]
    self.num_examples = splits[split].num_examples
    self._dataset = builder.as_dataset(
        split=split, shuffle_files=False,
        decoders={image_key: tfds.decode.SkipDecoding()}).map(
            lambda x: (x[image_key], x[label_key]))

  def batches(self, batch_size: int) -> Iterator[Batch]:
    return _record_batches(self._dataset, batch_size,
                           f"{self.name}/{self.split}")


class TfrecordSource:
  """`tf.train.Example` records with an encoded image and an int label.

  Attributes:
    class_names: as given.
    num_examples: None (unknown without a pass over the files).
  """

  def __init__(self, file_pattern: str, class_names: Sequence[str],
               image_key: str = "image/encoded",
               label_key: str = "image/class/label",
               label_offset: int = 0):
    """Configures the reader.

    Args:
      file_pattern: glob of TFRecord files (comma-separated globs allowed).
      class_names: names in label order (after `label_offset`).
      image_key: bytes feature with the encoded image.
      label_key: int64 feature with the label.
      label_offset: added to every stored label (e.g. -1 for the 1-based
        labels of TF-slim's ImageNet records).
    """
    files = sorted(f for p in file_pattern.split(",")
                   for f in tf.io.gfile.glob(p.strip()))
    if not files:
      raise FileNotFoundError(f"No TFRecord files match {file_pattern}")
    if not class_names:
      raise ValueError("TFRecords need class names (--class_names).")
    self.class_names = list(class_names)
    self.num_examples = None
    spec = {image_key: tf.io.FixedLenFeature([], tf.string),
            label_key: tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
      example = tf.io.parse_single_example(record, spec)
      return example[image_key], example[label_key] + label_offset

    self._files = files
    self._dataset = tf.data.TFRecordDataset(files).map(parse)

  def batches(self, batch_size: int) -> Iterator[Batch]:
    return _record_batches(self._dataset, batch_size, self._files[0])


def parse_dataset(spec: str, class_names: Optional[Sequence[str]] = None,
                  split: Optional[str] = None,
                  tfds_data_dir: Optional[str] = None,
                  image_key: Optional[str] = None,
                  label_key: Optional[str] = None,
                  label_offset: int = 0):
  """A source from "folder:DIR", "tfds:NAME", "tfrecord:GLOB" or
  "demo_world:DIR" (the CLI's `--dataset`).

  Keys default per kind (TFDS "image"/"label"; TFRecord
  "image/encoded"/"image/class/label"). `class_names` replaces the source's
  own names (same count required) and is required for TFRecords.
  """
  kind, sep, value = spec.partition(":")
  if not sep or not value:
    raise ValueError(f"--dataset must be KIND:VALUE with KIND in folder, "
                     f"tfds, tfrecord, demo_world; got {spec!r}.")
  if kind == "folder":
    source = ImageFolder(value)
  elif kind == "tfds":
    source = TfdsSource(value, tfds_data_dir, split,
                        image_key=image_key or "image",
                        label_key=label_key or "label")
  elif kind == "tfrecord":
    return TfrecordSource(value, class_names or (),
                          image_key=image_key or "image/encoded",
                          label_key=label_key or "image/class/label",
                          label_offset=label_offset)
  elif kind in PROJECT_SOURCES:
    source = importlib.import_module(PROJECT_SOURCES[kind]).EvalSource(value)
  else:
    raise ValueError(f"Unknown dataset kind {kind!r} in {spec!r} (folder, "
                     "tfds, tfrecord, demo_world).")
  if class_names:
    if len(class_names) != len(source.class_names):
      raise ValueError(
          f"{len(class_names)} class names given, but {spec} has "
          f"{len(source.class_names)} classes.")
    source.class_names = list(class_names)
  return source
