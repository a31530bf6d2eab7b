# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Keras pieces shared by the exported image and text encoders."""
import tensorflow as tf
import tf_keras


class L2Normalize(tf_keras.layers.Layer):
  """float [batch, dim] → float32 [batch, dim] with unit L2 norm.

  The same maths as `AlignModel.encode_image` / `encode_text`.
  """

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(tf.cast(inputs, tf.float32), axis=-1)


def attach_temperature(module: tf_keras.Model, temperature: tf.Variable):
  """Adds `module.temperature` and `module.logit_scale()` (in place).

  `temperature` is copied into a non-trainable float32 scalar variable (so
  fine-tuning through `hub.KerasLayer(trainable=True)` leaves it alone), and
  `logit_scale()` returns `{"logit_scale": 1 / temperature}`: ALIGN's logits
  are `cosine_similarity * logit_scale`.

  Args:
    module: the Keras model to be saved.
    temperature: the trained `AlignModel.temperature`.

  Returns:
    The concrete `logit_scale` function, for use as a signature.
  """
  module.temperature = tf.Variable(
      tf.convert_to_tensor(temperature), trainable=False, dtype=tf.float32,
      name="temperature")
  module.logit_scale = tf.function(
      lambda: {"logit_scale": 1.0 / module.temperature}, input_signature=[])
  return module.logit_scale.get_concrete_function()
