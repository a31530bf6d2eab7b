# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of WordPiece vocabulary learning from TFRecord captions."""
import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf

from official.align.dataloaders import build_vocab
from official.align.dataloaders import shard_format
from official.align.dataloaders import text_preprocessing

CAPTIONS = ["a red circle", "A Blue square", "red squares on the left",
            "a green star", "blue circles"] * 4


class BuildVocabTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
    self.shard = os.path.join(self.dir, "train-0.tfrecord")
    with tf.io.TFRecordWriter(self.shard) as w:
      for i, caption in enumerate(CAPTIONS):
        w.write(shard_format.make_example(str(i), b"x", caption)
                .SerializeToString())
      # Unusable captions are left out.
      w.write(shard_format.make_example("bad", b"x", b"zz\xff").
              SerializeToString())
      w.write(shard_format.make_example("none", b"x", None).
              SerializeToString())

  def test_learns_lowercase_vocab(self):
    vocab = build_vocab.learn_vocab(self.shard, vocab_size=200,
                                    learn_params={"lower_thresh": 1})
    self.assertEqual(vocab[:5], list(text_preprocessing.RESERVED_TOKENS))
    for word in ("red", "circle", "blue", "square", "##s", "green"):
      self.assertIn(word, vocab)
    self.assertNotIn("Blue", vocab)
    self.assertNotIn("zz", vocab)
    self.assertLen(set(vocab), len(vocab))
    path = os.path.join(self.dir, "vocab.txt")
    build_vocab.write_vocab(vocab, path)
    tok = text_preprocessing.TextTokenizer(path, seq_length=6)
    ids = tok(tf.constant(["blue circles"]))["input_word_ids"][0].numpy()
    tokens = [vocab[i] for i in ids]
    self.assertEqual(tokens[:2], ["[CLS]", "blue"])
    self.assertNotIn("[UNK]", tokens)

  def test_cli(self):
    out = os.path.join(self.dir, "cli_vocab.txt")
    subprocess.run(
        [sys.executable, "-m", "official.align.dataloaders.build_vocab",
         f"--input_pattern={os.path.join(self.dir, '*.tfrecord')}",
         f"--output={out}", "--vocab_size=100", "--lower_thresh=1",
         "--nolower_case"],
        check=True, capture_output=True, env=dict(os.environ,
                                                  TF_CPP_MIN_LOG_LEVEL="3"))
    with open(out) as f:
      vocab = f.read().split("\n")[:-1]
    self.assertEqual(vocab[0], "[PAD]")
    self.assertIn("Blue", vocab)  # Case kept.


if __name__ == "__main__":
  tf.test.main()
