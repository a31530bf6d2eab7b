# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The demo world's eval split as a zero-shot evaluation source.

`python -m official.align.evaluation.zero_shot_eval --dataset=demo_world:DIR`
reads it through `evaluation.classification_data.parse_dataset`.
"""
import json
import os
from typing import Iterator

import numpy as np
import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.demo import world as demo_world
from official.align.evaluation import classification_data

Batch = classification_data.Batch


class EvalSource:
  """The demo world's eval split, labelled by colour-shape pair.

  Attributes:
    class_names: the 48 "colour shape" names (`demo_world.class_names`).
    held_out: {key: bool}, whether an image shows a pair unseen in training.
    num_examples: eval images.
  """

  def __init__(self, world_dir: str):
    labels_file = os.path.join(world_dir, "eval_labels.json")
    if not tf.io.gfile.exists(labels_file):
      raise FileNotFoundError(f"No eval_labels.json in {world_dir}")
    with tf.io.gfile.GFile(labels_file) as f:
      rows = json.load(f)
    self.class_names = demo_world.class_names()
    index = {n: i for i, n in enumerate(self.class_names)}
    self._label = {r["key"]: index[r["pair"]] for r in rows}
    self.held_out = {r["key"]: bool(r["held_out"]) for r in rows}
    self.num_examples = len(rows)
    self._files = sorted(tf.io.gfile.glob(
        os.path.join(world_dir, "eval-*.tfrecord")))
    if not self._files:
      raise FileNotFoundError(f"No eval-*.tfrecord in {world_dir}")
    keys = shard_format.DEFAULT_KEYS
    self._keys = (keys.image, keys.key)

  def batches(self, batch_size: int) -> Iterator[Batch]:
    image_key, key_key = self._keys
    spec = {image_key: tf.io.FixedLenFeature([], tf.string),
            key_key: tf.io.FixedLenFeature([], tf.string)}
    dataset = tf.data.TFRecordDataset(self._files).map(
        lambda r: tf.io.parse_single_example(r, spec))
    for batch in dataset.batch(batch_size).as_numpy_iterator():
      keys = [k.decode("utf-8") for k in batch[key_key]]
      yield (list(batch[image_key]),
             np.array([self._label[k] for k in keys], np.int64), keys)
