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


def preprocessor_signatures(preprocessor: tf_keras.Model):
  """Signatures to save `build_text_preprocessor`'s model with.

  Keras names the outputs of the model's own serving signature after the
  packing layer (`bert_pack_inputs`, `bert_pack_inputs_1`, ...); these name
  them by their keys, so a TF Serving client can feed them by name to the
  text encoder's `token_ids` signature.

  Returns:
    {"serving_default": string [batch] `sentences` → int32 [batch,
    seq_length] `input_word_ids`, `input_mask`, `input_type_ids`}.
  """

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name="sentences")])
  def serve(sentences: tf.Tensor) -> Dict[str, tf.Tensor]:
    outputs = preprocessor(sentences)
    return {k: outputs[k] for k in align_model.TEXT_KEYS}

  return {"serving_default": serve.get_concrete_function()}


def encode_in_length_chunks(encode, inputs: Dict[str, tf.Tensor],
                            chunk_size: int) -> tf.Tensor:
  """`encode(inputs)` without computing on trailing padding.

  The rows are sorted by length (last unmasked position + 1) and encoded
  `chunk_size` at a time, each chunk cut to its longest row; the results go
  back to the input order. BERT masks padded keys out, so the result is
  `encode(inputs)` up to float rounding, at the cost of the real tokens
  (plus the padding left inside a chunk). Inside a `tf.function`.

  Args:
    encode: dict of int32 [rows, length] → float [rows, dim].
    inputs: `input_word_ids`, `input_mask`, `input_type_ids`, int32
      [batch, length].
    chunk_size: rows per chunk; 0 runs the batch at once, cut to its
      longest row.

  Returns:
    float32 [batch, dim].
  """
  mask = inputs["input_mask"]
  positions = tf.range(1, tf.shape(mask)[1] + 1)[None, :]
  lengths = tf.reduce_max(tf.where(mask != 0, positions, 0), axis=1)
  batch = tf.shape(mask)[0]
  if not chunk_size:
    width = tf.maximum(tf.reduce_max(lengths), 1)
    return tf.cast(encode({k: v[:, :width] for k, v in inputs.items()}),
                   tf.float32)
  order = tf.argsort(lengths, stable=True)
  num_chunks = (batch + chunk_size - 1) // chunk_size
  chunks = tf.TensorArray(tf.float32, size=num_chunks, infer_shape=False,
                          element_shape=tf.TensorShape([None, None]))
  for i in tf.range(num_chunks):
    rows = order[i * chunk_size:(i + 1) * chunk_size]
    width = tf.maximum(tf.reduce_max(tf.gather(lengths, rows)), 1)
    chunks = chunks.write(i, tf.cast(encode(
        {k: tf.gather(v, rows)[:, :width] for k, v in inputs.items()}),
                                     tf.float32))
  if num_chunks == 0:  # Empty batch: the shapes of a batch of one.
    return tf.zeros([0, tf.shape(encode(
        {k: v[:1] for k, v in _dummy_row(inputs).items()}))[1]])
  embeddings = chunks.concat()
  return tf.scatter_nd(order[:, None], embeddings, tf.shape(embeddings))


def _dummy_row(inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  return {k: tf.zeros([1, 1], v.dtype) for k, v in inputs.items()}


@gin.configurable(denylist=["text_encoder", "temperature", "vocab_file",
                            "seq_length", "lower_case", "logit_bias"])
def build_text_module(text_encoder: tf_keras.Model,
                      temperature: tf.Variable,
                      vocab_file: str,
                      seq_length: int,
                      lower_case: bool,
                      jit_compile: bool = False,
                      length_chunk_size: int = 8,
                      logit_bias=0.0):
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
    length_chunk_size: the signatures skip trailing padding, encoding the
      texts sorted by length in chunks of this many, each cut to its
      longest text (`encode_in_length_chunks`); 0: the whole batch cut to
      its longest text.
    logit_bias: the trained `AlignModel.logit_bias` (sigmoid loss), or 0.

  Returns:
    (module, signatures): `module` maps string [batch] (UTF-8) to float32
    [batch, embed_dim] with unit L2 norm, and has `preprocessor` (see
    `build_text_preprocessor`), `temperature`, `logit_bias` and
    `logit_scale()`;
    `signatures` is the dict for `tf.saved_model.save`: `serving_default`
    (`text` → `embeddings`), `token_ids` (int32 [batch, length]
    `input_word_ids`, `input_mask`, `input_type_ids` → `embeddings`),
    `token_ids_unchunked` (the same in one pass over the batch cut to its
    longest text, without XLA: no loop, so TFLite and tf2onnx convert it)
    and `logit_scale` (→ `logit_scale`, `logit_bias`).
  """
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
    return {"embeddings": encode_in_length_chunks(
        encode, preprocessor(text), length_chunk_size)}

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.int32, name=k)
      for k in align_model.TEXT_KEYS])
  def serve_token_ids(input_word_ids: tf.Tensor, input_mask: tf.Tensor,
                      input_type_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
    inputs = dict(input_word_ids=input_word_ids, input_mask=input_mask,
                  input_type_ids=input_type_ids)
    return {"embeddings": encode_in_length_chunks(
        encode, inputs, length_chunk_size)}

  @tf.function
  def encode_plain(inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
    return normalize(text_encoder(inputs, training=False))

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.int32, name=k)
      for k in align_model.TEXT_KEYS])
  def serve_token_ids_unchunked(input_word_ids: tf.Tensor,
                                input_mask: tf.Tensor,
                                input_type_ids: tf.Tensor
                                ) -> Dict[str, tf.Tensor]:
    inputs = dict(input_word_ids=input_word_ids, input_mask=input_mask,
                  input_type_ids=input_type_ids)
    return {"embeddings": encode_in_length_chunks(encode_plain, inputs, 0)}

  logit_scale = layers.attach_temperature(module, temperature, logit_bias)
  signatures = {
      "serving_default": serve_text.get_concrete_function(),
      "token_ids": serve_token_ids.get_concrete_function(),
      "token_ids_unchunked": serve_token_ids_unchunked.get_concrete_function(),
      "logit_scale": logit_scale,
  }
  return module, signatures
