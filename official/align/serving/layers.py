# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Keras pieces shared by the exported image and text encoders."""
import tensorflow as tf
import tf_keras
# The switch behind `tf_keras.Model.save(save_traces=False)`, which has no
# public form for `tf.saved_model.save`.
from tf_keras.src.saving.legacy.saved_model import utils as keras_sm_utils


class L2Normalize(tf_keras.layers.Layer):
  """float [batch, dim] → float32 [batch, dim] with unit L2 norm.

  The same maths as `AlignModel.encode_image` / `encode_text`.
  """

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(tf.cast(inputs, tf.float32), axis=-1)


def attach_temperature(module: tf_keras.Model, temperature: tf.Variable,
                       logit_bias=0.0):
  """Adds `module.temperature`, `module.logit_bias` and `module.logit_scale()`
  (in place).

  `temperature` and `logit_bias` are copied into non-trainable float32
  scalar variables (so fine-tuning through `hub.KerasLayer(trainable=True)`
  leaves them alone), and `logit_scale()` returns `{"logit_scale": 1 /
  temperature, "logit_bias": logit_bias}`: the trained logits are
  `cosine_similarity * logit_scale + logit_bias` (the bias is 0 for the
  softmax loss, where it would not change any softmax).

  Args:
    module: the Keras model to be saved.
    temperature: the trained `AlignModel.temperature`.
    logit_bias: the trained `AlignModel.logit_bias` (sigmoid loss), or 0.

  Returns:
    The concrete `logit_scale` function, for use as a signature.
  """
  module.temperature = tf.Variable(
      tf.convert_to_tensor(temperature), trainable=False, dtype=tf.float32,
      name="temperature")
  module.logit_bias = tf.Variable(
      tf.cast(tf.convert_to_tensor(logit_bias), tf.float32), trainable=False,
      dtype=tf.float32, name="logit_bias")
  module.logit_scale = tf.function(
      lambda: {"logit_scale": 1.0 / module.temperature,
               "logit_bias": tf.identity(module.logit_bias)},
      input_signature=[])
  return module.logit_scale.get_concrete_function()


def reusable_saved_model(module: tf_keras.Model,
                         input_spec: tf.TensorSpec) -> tf.train.Checkpoint:
  """The object to `tf.saved_model.save` for `module` (inside `no_traces`).

  It implements TF Hub's Reusable SavedModel API: `__call__(inputs,
  training=False)` (traced for both modes, so `hub.KerasLayer(...,
  trainable=True)` runs BatchNorm and dropout in training mode when asked),
  `variables`, `trainable_variables` and `regularization_losses`; plus the
  `temperature`, `logit_bias` and `logit_scale` of `attach_temperature`.
  `module` itself is kept as the child `model`, which under `no_traces`
  contributes only its variables and resources (e.g. the vocabulary asset),
  not the per-layer Keras call traces that make saving and loading slow.

  Args:
    module: a Keras model that went through `attach_temperature`.
    input_spec: the spec of `module`'s input, batch dimension included.

  Returns:
    The object to save (with `module`'s signatures).
  """
  saveable = tf.train.Checkpoint(model=module)

  @tf.function
  def call(inputs, training=False):
    return module(inputs, training=training)

  for training in (False, True):
    call.get_concrete_function(input_spec, training=training)
  saveable.__call__ = call
  saveable.variables = list(module.variables)
  saveable.trainable_variables = list(module.trainable_variables)
  # Layer regularizers (if any) as zero-argument functions, as Keras saves
  # them; `module.losses` re-evaluates them.
  saveable.regularization_losses = [
      tf.function(lambda: tf.add_n(module.losses), input_signature=[])
  ] if module.losses else []
  saveable.temperature = module.temperature
  saveable.logit_bias = module.logit_bias
  saveable.logit_scale = module.logit_scale
  return saveable


def keras_endpoints(signatures):
  """Endpoints for Keras 3's `keras.layers.TFSMLayer`, by attribute name.

  `TFSMLayer(path, call_endpoint=name)` calls an attribute or a signature
  of the SavedModel with one positional argument (default name: `serve`,
  what Keras 3's own exports use), which a signature of several inputs
  cannot take. So for every signature with inputs this returns a function
  taking them as one argument (the tensor, or the dict of tensors by input
  name) and returning the signature's dict: `serve` for `serving_default`,
  and the signature's own name for the others (e.g. `token_ids`: dict of
  int32 `input_word_ids`, `input_mask`, `input_type_ids` → `embeddings`).
  Attributes take precedence over signatures in `TFSMLayer`, and
  signatures stay as they are for TF Serving.

  Args:
    signatures: the dict of concrete functions passed to
      `tf.saved_model.save`.

  Returns:
    dict of attribute name → `tf.function`, to set on the saved object.
  """
  endpoints = {}
  for name, signature in signatures.items():
    if signature.structured_input_signature[0]:
      endpoints["serve" if name == "serving_default" else name] = (
          _one_argument_endpoint(signature))
  return endpoints


def _one_argument_endpoint(signature):
  """`signature` as a `tf.function` of one tensor or one dict of tensors."""
  specs = signature.structured_input_signature[0]
  if len(specs) == 1:
    return tf.function(signature, input_signature=list(specs))
  return tf.function(lambda inputs: signature(**inputs),
                     input_signature=[{spec.name: spec for spec in specs}])


def no_traces():
  """Context in which `tf.saved_model.save` skips Keras per-layer traces.

  tf_keras otherwise traces and serialises every layer's call functions
  (the "Skipping full serialization of TF-Keras layer" path), which costs
  tens of CPU-seconds to save and seconds to load, and which nothing reads:
  loaders use the functions of `reusable_saved_model` and the signatures.
  """
  return keras_sm_utils.keras_option_scope(
      save_traces=False, in_tf_saved_model_scope=True)
