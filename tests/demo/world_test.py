# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of the synthetic demo world generator."""
import filecmp
import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

from official.align.demo import world as demo_world
from official.align.dataloaders import input_reader


def _captions(path):
  out = []
  for r in tf.data.TFRecordDataset(path):
    e = tf.train.Example.FromString(r.numpy())
    out.append(e.features.feature["txt"].bytes_list.value[0].decode())
  return out


class DemoWorldTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

  def test_default_held_out_pairs_keep_every_attribute(self):
    held = demo_world.default_held_out_pairs()
    self.assertLen(held, 8)
    self.assertLen(set(held), 8)
    seen = [p for p in demo_world.all_pairs() if p not in held]
    self.assertLen(seen, 40)
    self.assertEqual({c for c, _ in seen}, set(demo_world.COLOURS))
    self.assertEqual({s for _, s in seen}, set(demo_world.SHAPES))
    self.assertLen(demo_world.class_names(), 48)
    self.assertEqual(demo_world.class_names()[0], "red circle")

  def test_generate(self):
    out = os.path.join(self.dir, "a")
    meta = demo_world.generate(out, num_train=600, num_eval=60,
                               image_size=(32, 40), seed=1, num_workers=2,
                               num_train_shards=2, vocab_size=300)
    held = {tuple(p) for p in meta["held_out_pairs"]}
    train_files = [os.path.join(out, f) for f in meta["train_files"]]
    captions = [c for f in train_files for c in _captions(f)]
    self.assertLen(captions, 600)
    # No held-out pair in any training caption.
    for colour, shape in held:
      pattern = re.compile(rf"\b{colour} {shape}\b")
      self.assertFalse([c for c in captions if pattern.search(c)])
    # Noise: about 20% of captions name no shape at all or are swapped.
    noisy = meta["num_noisy_train_captions"]
    self.assertBetween(noisy, 80, 160)
    shapeless = [c for c in captions
                 if not any(s in c for s in demo_world.SHAPES)]
    self.assertBetween(len(shapeless), 20, noisy)
    self.assertTrue(any(c.startswith("two shapes:") for c in captions))
    # Eval labels: both held-out and seen pairs, consistent with captions.
    with open(os.path.join(out, "eval_labels.json")) as f:
      labels = json.load(f)
    self.assertLen(labels, 60)
    self.assertTrue(any(l["held_out"] for l in labels))
    self.assertTrue(any(not l["held_out"] for l in labels))
    for l in labels:
      self.assertEqual(l["held_out"], (l["colour"], l["shape"]) in held)
      self.assertIn(f"{l['colour']} {l['shape']}", l["caption"])
    self.assertEqual(
        _captions(os.path.join(out, meta["eval_files"][0])),
        [l["caption"] for l in labels])
    # The shards and vocab feed the real reader; images have the sizes drawn.
    reader = input_reader.InputReader(
        os.path.join(out, "eval-*"), 20, is_training=False,
        vocab_file=os.path.join(out, "vocab.txt"), seq_length=16,
        image_size=24, resize_size=28, deterministic=True, return_text=True)
    batches = list(reader().as_numpy_iterator())
    self.assertLen(batches, 3)
    self.assertAllEqual(batches[-1]["skipped_records"],
                        [0] * len(input_reader.SKIP_REASONS))
    ids = batches[0]["input_word_ids"]
    self.assertFalse((ids == 1).any())  # No [UNK] in clean captions.
    # Determinism, whatever the number of workers.
    out_b = os.path.join(self.dir, "b")
    demo_world.generate(out_b, num_train=600, num_eval=60, image_size=(32, 40),
                        seed=1, num_workers=1, num_train_shards=2,
                        write_vocab=False)
    for name in meta["train_files"] + meta["eval_files"] + [
        "eval_labels.json"]:
      self.assertTrue(filecmp.cmp(os.path.join(out, name),
                                  os.path.join(out_b, name), shallow=False))


if __name__ == "__main__":
  tf.test.main()
