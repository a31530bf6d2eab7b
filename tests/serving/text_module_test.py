"""Export options of the text module: XLA, [CLS]-only, padding skipped.

A tiny 2-layer text tower is saved the way `export_lib.export` saves it,
with `jit_compile=True`, the [CLS]-only last layer and length chunks of 2
(texts of different lengths: several chunks, rows reordered), and loaded
back with
`tf.saved_model.load` and `hub.KerasLayer`: both give the embeddings of the
unchanged Python tower (full last layer, no XLA).
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # pylint: disable=unused-import

from official.align.dataloaders import text_preprocessing
from official.align.serving import layers
from official.align.serving import text_module
import tiny_models  # pylint: disable=g-bad-import-order

WORDS = "a photo of the red blue circle square".split()
TEXTS = ["a red circle", "the blue square photo", "", "a photo of a photo"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  """(export dir, expected embeddings of TEXTS, token ids of TEXTS)."""
  root = tmp_path_factory.mktemp("text_module")
  vocab = root / "vocab.txt"
  vocab.write_text("\n".join(text_preprocessing.RESERVED_TOKENS + tuple(WORDS))
                   + "\n")
  encoder = tiny_models.tiny_text_encoder(num_layers=2)
  tokens = text_preprocessing.TextTokenizer(
      str(vocab), tiny_models.SEQ_LENGTH)(tf.constant(TEXTS))
  expected = tf.math.l2_normalize(encoder(tokens, training=False),
                                  axis=-1).numpy()
  module, signatures = text_module.build_text_module(
      encoder, tf.Variable(0.07), str(vocab), tiny_models.SEQ_LENGTH,
      lower_case=True, jit_compile=True, length_chunk_size=2)
  export_dir = str(root / "text_encoder")
  with layers.no_traces():
    tf.saved_model.save(
        layers.reusable_saved_model(
            module, tf.TensorSpec([None], tf.string, name="text")),
        export_dir, signatures=signatures)
  return export_dir, expected, {k: v.numpy() for k, v in tokens.items()}


def test_xla_signatures_match_python_tower(saved):
  export_dir, expected, tokens = saved
  loaded = tf.saved_model.load(export_dir)
  from_ids = loaded.signatures["token_ids"](
      **{k: tf.constant(v) for k, v in tokens.items()})["embeddings"]
  from_text = loaded.signatures["serving_default"](
      text=tf.constant(TEXTS))["embeddings"]
  np.testing.assert_allclose(from_ids, expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(from_text, expected, rtol=1e-4, atol=1e-6)
  # A second shape compiles again and still agrees.
  np.testing.assert_allclose(
      loaded.signatures["token_ids"](
          **{k: tf.constant(v[:2]) for k, v in tokens.items()})[
              "embeddings"], expected[:2], rtol=1e-4, atol=1e-6)


def test_empty_batch_gives_no_rows(saved):
  export_dir, expected, _ = saved
  loaded = tf.saved_model.load(export_dir)
  out = loaded.signatures["serving_default"](
      text=tf.constant([], tf.string))["embeddings"]
  assert out.shape == (0, expected.shape[1])


def test_hub_keras_layer_matches_python_tower(saved):
  export_dir, expected, _ = saved
  embeddings = hub.KerasLayer(export_dir)(tf.constant(TEXTS))
  np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-6)
