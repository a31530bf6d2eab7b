# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of the WordPiece `TextTokenizer`."""
import os
import shutil
import tempfile

import tensorflow as tf

from official.align.dataloaders import text_preprocessing as tp

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "circle",
         "on", "the", "left", "##s", "square", "."]


class TextTokenizerTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
    self.vocab = os.path.join(self.dir, "vocab.txt")
    with open(self.vocab, "w") as f:
      f.write("\n".join(VOCAB) + "\n")

  def test_pack_truncate_pad(self):
    tok = tp.TextTokenizer(self.vocab, seq_length=8)
    out = tok(tf.constant(["A red circle on the LEFT.", "squares " * 10,
                           "zebra", ""]))
    self.assertAllEqual(out["input_word_ids"],
                        [[2, 5, 6, 7, 8, 9, 10, 3],
                         [2, 12, 11, 12, 11, 12, 11, 3],
                         [2, 1, 3, 0, 0, 0, 0, 0],
                         [2, 3, 0, 0, 0, 0, 0, 0]])
    self.assertAllEqual(out["input_mask"][2], [1, 1, 1, 0, 0, 0, 0, 0])
    self.assertAllEqual(out["input_type_ids"], tf.zeros([4, 8], tf.int32))
    for v in out.values():
      self.assertEqual(v.dtype, tf.int32)
    self.assertEqual(tok.vocab_size, len(VOCAB))

  def test_texts_are_cut_to_a_byte_budget_first(self):
    tok = tp.TextTokenizer(self.vocab, seq_length=8)
    self.assertEqual(tok.max_text_bytes, 32 * 8)
    # A 5 MB caption: the same tokens as its first 256 bytes.
    huge = "a red circle on the left. " * 200_000
    self.assertAllEqual(tok(tf.constant([huge]))["input_word_ids"],
                        tok(tf.constant([huge[:256]]))["input_word_ids"])
    cut = tp.TextTokenizer(self.vocab, seq_length=8, bytes_per_token=2)
    # 16 bytes: "a red circle on " -> 4 words, then padding.
    self.assertAllEqual(cut(tf.constant(["a red circle on the left."]))[
        "input_word_ids"], [[2, 5, 6, 7, 8, 3, 0, 0]])
    # Cut inside a character: [UNK] for its half, no error.
    self.assertAllEqual(
        tp.TextTokenizer(self.vocab, seq_length=4, bytes_per_token=1)(
            tf.constant(["a  \u00e9"]))["input_word_ids"], [[2, 5, 1, 3]])
    with self.assertRaisesRegex(ValueError, "bytes_per_token"):
      tp.TextTokenizer(self.vocab, bytes_per_token=0)

  def test_case_sensitive(self):
    tok = tp.TextTokenizer(self.vocab, seq_length=4, lower_case=False)
    out = tok(tf.constant("Red red"))
    self.assertAllEqual(out["input_word_ids"], [2, 1, 6, 3])

  def test_in_dataset_and_saved_model(self):
    tok = tp.TextTokenizer(self.vocab, seq_length=6)
    ds = tf.data.Dataset.from_tensor_slices(["a red", "circle"]).batch(2)
    got = next(iter(ds.map(tok)))["input_word_ids"]
    self.assertAllEqual(got, [[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]])

    module = tf.Module()
    module.tokenizer = tok
    module.serve = tf.function(
        lambda s: tok(s),
        input_signature=[tf.TensorSpec([None], tf.string)])
    export = os.path.join(self.dir, "saved")
    tf.saved_model.save(module, export)
    os.remove(self.vocab)  # The vocabulary must travel as an asset.
    loaded = tf.saved_model.load(export)
    out = loaded.serve(tf.constant(["a red circle"]))
    self.assertAllEqual(out["input_word_ids"], [[2, 5, 6, 7, 3, 0]])


if __name__ == "__main__":
  tf.test.main()
