# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The exported text encoder and text preprocessor.

Tokenisation is Model Garden's BERT preprocessing
(`official.nlp.tools.export_tfhub_lib.create_preprocessing`: the
`BertTokenizer` + `BertPackInputs` layers that `TextTokenizer` uses in
training), so the vocab file becomes a SavedModel asset and the exported
modules need only `import tensorflow_text` to run.
"""
from typing import Dict

import gin
import tensorflow as tf
import tf_keras

from official.align.modeling import align_model
from official.align.serving import layers
from official.nlp.tools import export_tfhub_lib


def build_text_preprocessor(vocab_file: str, seq_length: int,
                            lower_case: bool) -> tf_keras.Model:
  """Model Garden's BERT preprocessing model (not yet saved).

  Args:
    vocab_file: the WordPiece vocab.txt used in training.
    seq_length: default output length in tokens.
    lower_case: lower-case and strip accents, as in training.

  Returns:
    A `tf_keras.Model` string [batch] `sentences` → dict of int32
    [batch, seq_length] `input_word_ids`, `input_mask`, `input_type_ids`,
    with `.tokenize` (string [batch] → int32 RaggedTensor
    [batch, (words), (pieces)]) and `.bert_pack_inputs(list_of_ragged,
    seq_length=...)`.
  """
  return export_tfhub_lib.create_preprocessing(
      vocab_file=vocab_file, do_lower_case=lower_case,
      tokenize_with_offsets=False, default_seq_length=seq_length)


def cls_only_last_layer(text_encoder: tf_keras.Model) -> bool:
  """Makes the last BERT layer compute the [CLS] position only, if exact.

  With [CLS] pooling the embedding reads nothing else of the last layer, so
  its queries, attention output and feed-forward are needed for position 0
  only (keys and values still cover every token): Model Garden's
  `output_range=1`, about a fifth less compute for a 4-layer tower, same
  outputs. A mean-pooling tower is left as it is.

  Returns:
    Whether the encoder was changed.
  """
  bert = getattr(text_encoder, "bert", None)
  if getattr(text_encoder, "pooling", "cls") != "cls" or not hasattr(
      bert, "_output_range"):
    return False
  # BertEncoderV2 reads `_output_range` at call time (its constructor
  # argument `output_range`); the variables are unchanged.
  bert._output_range = 1  # pylint: disable=protected-access
  return True


@gin.configurable(denylist=["text_encoder", "temperature", "vocab_file",
                            "seq_length", "lower_case"])
def build_text_module(text_encoder: tf_keras.Model,
                      temperature: tf.Variable,
                      vocab_file: str,
                      seq_length: int,
                      lower_case: bool,
                      jit_compile: bool = False,
                      cls_only: bool = True):
  """The text encoder to export, and its signatures.

  Args:
    text_encoder: the trained text tower (shares its variables).
    temperature: the trained `AlignModel.temperature`.
    vocab_file: the WordPiece vocab.txt used in training.
    seq_length: tokens per text, [CLS] and [SEP] included (longer texts are
      truncated).
    lower_case: lower-case and strip accents, as in training.
    jit_compile: compile the encoder of the `serving_default` and
      `token_ids` signatures with XLA (tokenisation stays outside XLA). XLA
      compiles once per input shape (batch size, length), taking seconds,
      so it pays off only for servers that see a few fixed shapes.
    cls_only: last BERT layer on the [CLS] position only (see
      `cls_only_last_layer`); changes `text_encoder` in place.

  Returns:
    (module, signatures): `module` maps string [batch] (UTF-8) to float32
    [batch, embed_dim] with unit L2 norm, and has `preprocessor` (see
    `build_text_preprocessor`), `temperature` and `logit_scale()`;
    `signatures` is the dict for `tf.saved_model.save`: `serving_default`
    (`text` → `embeddings`), `token_ids` (int32 [batch, length]
    `input_word_ids`, `input_mask`, `input_type_ids` → `embeddings`) and
    `logit_scale` (→ `logit_scale`).
  """
  if cls_only:
    cls_only_last_layer(text_encoder)
  preprocessor = build_text_preprocessor(vocab_file, seq_length, lower_case)
  text = tf_keras.Input([], dtype=tf.string, name="text")
  normalize = layers.L2Normalize(name="embeddings")
  embeddings = normalize(text_encoder(preprocessor(text)))
  module = tf_keras.Model(text, embeddings, name="text_encoder")
  module.preprocessor = preprocessor

  @tf.function(jit_compile=jit_compile)
  def encode(inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
    return normalize(text_encoder(inputs, training=False))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name="text")])
  def serve_text(text: tf.Tensor) -> Dict[str, tf.Tensor]:
    if not jit_compile:
      return {"embeddings": module(text, training=False)}
    return {"embeddings": encode(preprocessor(text))}

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.int32, name=k)
      for k in align_model.TEXT_KEYS])
  def serve_token_ids(input_word_ids: tf.Tensor, input_mask: tf.Tensor,
                      input_type_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
    inputs = dict(input_word_ids=input_word_ids, input_mask=input_mask,
                  input_type_ids=input_type_ids)
    return {"embeddings": encode(inputs)}

  logit_scale = layers.attach_temperature(module, temperature)
  signatures = {
      "serving_default": serve_text.get_concrete_function(),
      "token_ids": serve_token_ids.get_concrete_function(),
      "logit_scale": logit_scale,
  }
  return module, signatures
