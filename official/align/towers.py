# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Memory levers for the ALIGN towers: locking and gradient checkpointing.

Both act on a built tower in place and keep its variables (and therefore its
checkpoint layout) unchanged, by wrapping the instance's `call`:

* `lock_tower` (LiT, Zhai et al. 2022): the tower's variables become
  non-trainable and the tower always runs in inference mode (BatchNorm uses
  its moving statistics and does not update them, dropout and stochastic
  depth are off), whatever `training` the caller passes.
* `recompute_tower`: the tower's forward pass runs under `tf.recompute_grad`,
  so its activations are not kept for the backward pass but recomputed
  there (more compute, less memory). Gradients are unchanged for
  deterministic towers without BatchNorm (tested on the BERT tower). Caveats:
  a tower with active dropout draws new masks when recomputing; towers with
  BatchNorm (EfficientNet) are refused, as their recomputed gradients were
  measured to be wrong.
"""
import gin
import tensorflow as tf
import tf_keras


def lock_tower(tower: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
  """Makes `tower` non-trainable and always in inference mode (in place)."""
  tower.trainable = False
  inner_call = tower.call

  def call(inputs, training=None, **kwargs):
    del training
    return tf.stop_gradient(inner_call(inputs, training=False, **kwargs))

  tower.call = call
  return tower


def recompute_tower(tower: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
  """Wraps the tower's forward pass in `tf.recompute_grad` (in place).

  Floating-point inputs (images) are passed to the recomputed function so
  their gradient is defined; integer inputs (token ids) are closed over.

  Raises:
    NotImplementedError: the tower has BatchNormalization layers. Measured
      with tf 2.20 / tf_keras 2.20: gradients through a recomputed
      BatchNormalization in training mode differ from the plain ones, so
      the EfficientNet image tower cannot use this yet (the BERT text tower,
      LayerNorm only, can).
  """
  if any(isinstance(m, tf_keras.layers.BatchNormalization)
         for m in tower.submodules):
    raise NotImplementedError(
        f"recompute_tower: {tower.name} has BatchNormalization layers, "
        "whose gradients tf.recompute_grad gets wrong here; not supported.")
  inner_call = tower.call

  def call(inputs, training=None, **kwargs):
    flat = tf.nest.flatten(inputs)
    is_float = [t.dtype.is_floating for t in flat]
    float_inputs = [t for t, f in zip(flat, is_float) if f]

    def forward(*float_args):
      it = iter(float_args)
      rebuilt = [next(it) if f else t for t, f in zip(flat, is_float)]
      return inner_call(tf.nest.pack_sequence_as(inputs, rebuilt),
                        training=training, **kwargs)

    return tf.recompute_grad(forward)(*float_inputs)

  tower.call = call
  return tower


@gin.configurable
def configure_towers(model,
                     lock_image_tower: bool = False,
                     lock_text_tower: bool = False,
                     recompute_image_tower: bool = False,
                     recompute_text_tower: bool = False):
  """Applies the gin-bound memory levers to a built `AlignModel` (in place).

  Args:
    model: an `AlignModel` whose towers are built.
    lock_image_tower: LiT-style locked image tower (see `lock_tower`).
    lock_text_tower: locked text tower.
    recompute_image_tower: gradient checkpointing of the image tower.
    recompute_text_tower: gradient checkpointing of the text tower.

  Returns:
    The model.
  """
  if recompute_image_tower and not lock_image_tower:
    recompute_tower(model.image_encoder)
  if recompute_text_tower and not lock_text_tower:
    recompute_tower(model.text_encoder)
  if lock_image_tower:
    lock_tower(model.image_encoder)
  if lock_text_tower:
    lock_tower(model.text_encoder)
  return model
