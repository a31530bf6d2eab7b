"""Image and text towers: shapes, what is pooled, and published sizes."""
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from official.align.modeling import align_model
from official.align.modeling import image_encoder
from official.align.modeling import text_encoder
from official.vision.modeling.layers import nn_layers

import tiny_models

CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "configs")


def _token_batch(batch_size=2, length=8):
  return dict(input_word_ids=tf.ones([batch_size, length], tf.int32),
              input_mask=tf.ones([batch_size, length], tf.int32),
              input_type_ids=tf.zeros([batch_size, length], tf.int32))


def test_efficientnet_b7_tower_matches_published_size():
  """EfficientNet-B7: 66M parameters with its 1000-class head (Tan & Le 2019,
  Table 2); Keras Applications' EfficientNetB7 counts 66,658,687 including 7
  input-normalisation statistics. ALIGN pools the 640-wide last block, so the
  head conv (640→2560, BN) and classifier (2560→1000) are not in the tower."""
  encoder = image_encoder.ImageEncoder(model_id="b7")
  features = encoder(tf.zeros([1, 64, 64, 3]))
  assert encoder.feature_dim == 640 and encoder.projection is None
  assert features.shape == (1, 640)
  head = 640 * 2560 + 4 * 2560 + 2560 * 1000 + 1000
  total = encoder.count_params() + head
  assert total == 66_658_687 - 7
  assert abs(total - 66e6) / 66e6 < 0.01


def test_efficientnet_l2_embedding_width_is_1376():
  """The paper's EfficientNet-L2 (width 4.3) ends in a 1376-wide block, the
  embedding size of its main model (Jia et al. 2021, §5)."""
  key = image_encoder.efficientnet_model_id("l2")
  assert key == "l2"
  assert nn_layers.round_filters(320, 4.3) == 1376
  with pytest.raises(ValueError, match="Unknown EfficientNet"):
    image_encoder.efficientnet_model_id("b9")


@pytest.mark.parametrize("size,published,exact", [
    # Devlin et al. 2019, §3: BERT-Base 110M, BERT-Large 340M parameters;
    # the released bert-*-uncased checkpoints hold 109,482,240 and
    # 335,141,888 (vocabulary 30522, 512 positions, pooler included).
    (dict(hidden_size=768, num_layers=12, num_attention_heads=12,
          inner_dim=3072), 110e6, 109_482_240),
    (dict(hidden_size=1024, num_layers=24, num_attention_heads=16,
          inner_dim=4096), 340e6, 335_141_888),
])
def test_bert_towers_match_published_sizes(size, published, exact):
  encoder = text_encoder.TextEncoder(embed_dim=640, vocab_size=30522,
                                     max_sequence_length=512, **size)
  embeddings = encoder(_token_batch())
  assert embeddings.shape == (2, 640)
  bert_params = encoder.bert.count_params()
  assert bert_params == exact
  assert abs(bert_params - published) / published < 0.02
  projection = size["hidden_size"] * 640 + 640
  assert encoder.count_params() == bert_params + projection


def test_image_tower_pools_last_block_not_head_conv():
  encoder = tiny_models.tiny_image_encoder()
  images = tf.random.uniform([2, 32, 32, 3], seed=1)
  trunk_out = encoder.trunk(images, training=True)
  # Width 0.25 of B0's last block (320) is 80; the head conv would be 320.
  assert trunk_out.shape[-1] == 80 == encoder.feature_dim
  want = encoder.projection(tf.reduce_mean(trunk_out, axis=[1, 2]))
  np.testing.assert_allclose(encoder(images, training=True), want,
                             rtol=1e-5, atol=1e-6)
  names = [layer.name for layer in encoder.trunk.layers]
  assert not any("top" in n or "head" in n for n in names)


def test_text_tower_projects_cls_state_without_pooler():
  encoder = tiny_models.tiny_text_encoder()
  batch = tiny_models.random_batch(3)
  got = encoder(batch)
  sequence = encoder.bert(
      {k: batch[k] for k in align_model.TEXT_KEYS})["sequence_output"]
  np.testing.assert_allclose(got, encoder.projection(sequence[:, 0]),
                             rtol=1e-5, atol=1e-6)
  # The last layer on [CLS] only (output_range=1) gives the same embedding
  # as the full last layer.
  encoder.bert._output_range = None  # pylint: disable=protected-access
  np.testing.assert_allclose(encoder(batch), got, rtol=1e-5, atol=1e-6)
  encoder.bert._output_range = 1  # pylint: disable=protected-access
  # The tanh pooler is not part of ALIGN and is not trained.
  trainable = {v.name for v in encoder.trainable_variables}
  assert not any("pooler" in name for name in trainable)
  # Padding does not leak into the [CLS] embedding.
  padded = dict(batch)
  padded["input_word_ids"] = tf.where(batch["input_mask"] > 0,
                                      batch["input_word_ids"], 7)
  np.testing.assert_allclose(encoder(padded), got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", ["tiny.gin", "align_b7_bert_base.gin",
                                    "align_paper_l2_bert_large.gin"])
def test_preset_configs_parse(config):
  gin.clear_config()
  try:
    gin.parse_config_file(os.path.join(CONFIG_DIR, config))
    if config == "tiny.gin":
      model = align_model.build_align_model()
      out = model(tiny_models.random_batch(2) | {
          "image": tf.zeros([2, 32, 32, 3])}, training=True)
      assert out["image_embeddings"].shape == (2, 32)
      assert out["text_embeddings"].shape == (2, 32)
  finally:
    gin.clear_config()
