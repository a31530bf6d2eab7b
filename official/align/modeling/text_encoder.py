# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN's text tower: BERT, final [CLS] hidden state, linear projection."""
from typing import Mapping

import gin
import tensorflow as tf
import tf_keras

from official.nlp.modeling import networks


@gin.configurable
class TextEncoder(tf_keras.Model):
  """`BertEncoderV2` → `sequence_output[:, 0]` ([CLS]) → Dense(embed_dim).

  ALIGN uses neither BERT's tanh pooler nor an activation after the
  projection. Since only [CLS] is read, the last layer computes its queries,
  attention output and feed-forward for that position alone (Model Garden's
  `output_range=1`; keys and values still cover every token): the same
  embedding for about 1/num_layers less compute. The pooler still exists
  inside `BertEncoderV2` (so BERT checkpoints load) but is frozen: nothing
  trains it.

  Call: a dict of int32 [batch, seq_length] `input_word_ids`, `input_mask`,
  `input_type_ids` → float [batch, embed_dim], not normalised.
  """

  def __init__(self,
               embed_dim: int = 640,
               vocab_size: int = 100_000,
               hidden_size: int = 768,
               num_layers: int = 12,
               num_attention_heads: int = 12,
               inner_dim: int = 3072,
               inner_activation: str = "gelu",
               max_sequence_length: int = 512,
               type_vocab_size: int = 2,
               dropout_rate: float = 0.1,
               attention_dropout_rate: float = 0.1,
               initializer_range: float = 0.02,
               name: str = "text_encoder",
               **kwargs):
    """Builds the tower.

    Args:
      embed_dim: output size of the projection (the image embedding size).
      vocab_size: WordPiece vocabulary size.
      hidden_size: BERT hidden size.
      num_layers: transformer layers.
      num_attention_heads: attention heads per layer.
      inner_dim: feed-forward width.
      inner_activation: feed-forward activation.
      max_sequence_length: size of the position embedding table.
      type_vocab_size: segment types.
      dropout_rate: dropout of hidden states.
      attention_dropout_rate: dropout of attention probabilities.
      initializer_range: stddev of the truncated-normal initialiser.
      name: layer name.
      **kwargs: forwarded to `tf_keras.Model`.
    """
    super().__init__(name=name, **kwargs)
    initializer = tf_keras.initializers.TruncatedNormal(
        stddev=initializer_range)
    self.bert = networks.BertEncoderV2(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_attention_heads=num_attention_heads,
        inner_dim=inner_dim,
        inner_activation=inner_activation,
        max_sequence_length=max_sequence_length,
        type_vocab_size=type_vocab_size,
        output_dropout=dropout_rate,
        attention_dropout=attention_dropout_rate,
        initializer=initializer,
        output_range=1,
        name="bert")
    self.bert.pooler_layer.trainable = False
    self.embed_dim = embed_dim
    self.projection = tf_keras.layers.Dense(
        embed_dim, kernel_initializer=initializer, name="projection")
    self._config = dict(
        embed_dim=embed_dim, vocab_size=vocab_size, hidden_size=hidden_size,
        num_layers=num_layers, num_attention_heads=num_attention_heads,
        inner_dim=inner_dim, inner_activation=inner_activation,
        max_sequence_length=max_sequence_length,
        type_vocab_size=type_vocab_size, dropout_rate=dropout_rate,
        attention_dropout_rate=attention_dropout_rate,
        initializer_range=initializer_range)

  def call(self, inputs: Mapping[str, tf.Tensor], training=None) -> tf.Tensor:
    outputs = self.bert(
        dict(input_word_ids=inputs["input_word_ids"],
             input_mask=inputs["input_mask"],
             input_type_ids=inputs["input_type_ids"]),
        training=training)
    return self.projection(outputs["sequence_output"][:, 0, :])

  def get_config(self):
    return dict(self._config, name=self.name)
