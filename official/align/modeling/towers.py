# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Memory levers for the ALIGN towers: locking and gradient checkpointing.

Both act on a built tower in place and keep its variables (and therefore its
checkpoint layout) unchanged, by wrapping instance `call`s:

* `lock_tower` (LiT, Zhai et al. 2022): the tower's variables become
  non-trainable and the tower always runs in inference mode (BatchNorm uses
  its moving statistics and does not update them, dropout and stochastic
  depth are off), whatever `training` the caller passes.
* `recompute_tower`: gradient checkpointing with `tf.recompute_grad`. Each
  EfficientNet MBConv block (Model Garden's `InvertedBottleneckBlock`) is a
  checkpoint: only block inputs are kept for the backward pass and each
  block's forward is re-run there (about one extra forward pass of compute;
  the expanded 6x-wide activations inside blocks are never all alive at
  once). Towers without such blocks (BERT) are one checkpoint as a whole.

BatchNorm under recomputation: in training mode BatchNorm normalises with
the batch statistics, so the recomputed forward is the same function of the
same inputs and the gradients are unchanged. Its moving-statistics update,
though, is a side effect that the re-run would apply a second time; the
re-run therefore runs with the updates of its BatchNorm layers switched off,
so the moving statistics are updated exactly once per step.

Randomness is not replayed: a recomputed dropout layer draws a new mask (the
text tower's caveat; the configs use dropout 0 where recomputation is on)
and recomputed stochastic depth would drop different blocks, so blocks with
stochastic depth are refused.
"""
import contextlib
from typing import Callable, Tuple, Type

import gin
import tensorflow as tf
import tf_keras
from tf_keras.src.engine import base_layer_utils

from official.vision.modeling.layers import nn_blocks

# Layers recomputed one by one when a tower contains them.
RECOMPUTE_BLOCK_TYPES: Tuple[Type[tf_keras.layers.Layer], ...] = (
    nn_blocks.InvertedBottleneckBlock,)


def lock_tower(tower: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
  """Makes `tower` non-trainable and always in inference mode (in place)."""
  tower.trainable = False
  inner_call = tower.call

  def call(inputs, training=None, **kwargs):
    del training
    return tf.stop_gradient(inner_call(inputs, training=False, **kwargs))

  tower.call = call
  return tower


def _batch_norms(layer: tf_keras.layers.Layer):
  layers = [layer] + list(layer.submodules)
  return [m for m in layers
          if isinstance(m, tf_keras.layers.BatchNormalization)]


@contextlib.contextmanager
def _frozen_moving_statistics(batch_norms):
  """BatchNorm layers still normalise with batch statistics in training, but
  skip their moving-average updates (instance-level override)."""
  skip_average = lambda variable, *args, **kwargs: variable
  skip_assign = lambda variable, value: variable
  for bn in batch_norms:
    bn._assign_moving_average = skip_average  # pylint: disable=protected-access
    bn._assign_new_value = skip_assign  # pylint: disable=protected-access
  try:
    yield
  finally:
    for bn in batch_norms:
      del bn._assign_moving_average  # pylint: disable=protected-access
      del bn._assign_new_value  # pylint: disable=protected-access


def _recomputed(layer: tf_keras.layers.Layer, inner_call: Callable
                ) -> Callable:
  """`layer.call` replacement running `inner_call` under `recompute_grad`.

  Floating-point inputs (images, activations) are arguments of the
  recomputed function so their gradient is defined; integer inputs (token
  ids) are closed over. The first run of the function (the forward pass)
  updates BatchNorm moving statistics; later runs (the recomputation in the
  backward pass) do not.
  """
  batch_norms = _batch_norms(layer)

  def call(inputs, training=None, **kwargs):
    flat = tf.nest.flatten(inputs)
    is_float = [t.dtype.is_floating for t in flat]
    float_inputs = [t for t, f in zip(flat, is_float) if f]
    runs = []  # Per call: the forward is run 0, recomputations come after.

    def forward(*float_args):
      it = iter(float_args)
      rebuilt = [next(it) if f else t for t, f in zip(flat, is_float)]
      rebuilt = tf.nest.pack_sequence_as(inputs, rebuilt)
      first = not runs
      runs.append(True)
      # The recomputation runs in the backward pass, outside the Keras call
      # that set `training`; sublayers called without it (Model Garden's
      # blocks call their BatchNorms so) would fall back to inference mode.
      # Re-enter the call context that `Layer.__call__` set for the forward.
      with base_layer_utils.call_context().enter(
          layer=layer, inputs=rebuilt, build_graph=not tf.executing_eagerly(),
          call_context_args={"training": training}), (
              contextlib.nullcontext() if first
              else _frozen_moving_statistics(batch_norms)):
        return inner_call(rebuilt, training=training, **kwargs)

    return tf.recompute_grad(forward)(*float_inputs)

  return call


def recompute_tower(tower: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
  """Gradient checkpointing of a built tower (in place).

  EfficientNet towers are checkpointed per MBConv block, other towers as a
  whole (see the module docstring). Gradients and BatchNorm moving
  statistics equal those of the plain tower.

  Raises:
    ValueError: a block has active stochastic depth (its recomputation
      would drop different blocks than the forward pass).
  """
  blocks = [m for m in tower.submodules
            if isinstance(m, RECOMPUTE_BLOCK_TYPES)]
  for block in blocks:
    if getattr(block, "_stochastic_depth", None) is not None:
      raise ValueError(
          f"recompute_tower: block {block.name} of {tower.name} uses "
          "stochastic depth, whose random drops recomputation would not "
          "replay; set ImageEncoder.stochastic_depth_drop_rate = 0.")
  for layer in blocks or [tower]:
    layer.call = _recomputed(layer, layer.call)
  return tower


@gin.configurable
def configure_towers(model,
                     lock_image_tower: bool = False,
                     lock_text_tower: bool = False,
                     recompute_image_tower: bool = False,
                     recompute_text_tower: bool = False):
  """Applies the gin-bound memory levers to a built model (in place).

  Args:
    model: a built model with an `image_encoder` and optionally a
      `text_encoder` (`AlignModel`, or the transfer `ClassifierModel`).
    lock_image_tower: LiT-style locked image tower (see `lock_tower`).
    lock_text_tower: locked text tower.
    recompute_image_tower: gradient checkpointing of the image tower.
    recompute_text_tower: gradient checkpointing of the text tower.

  Returns:
    The model.
  """
  text_encoder = getattr(model, "text_encoder", None)
  if (lock_text_tower or recompute_text_tower) and text_encoder is None:
    raise ValueError(f"{model.name} has no text tower to lock or recompute.")
  if recompute_image_tower and not lock_image_tower:
    recompute_tower(model.image_encoder)
  if recompute_text_tower and not lock_text_tower:
    recompute_tower(text_encoder)
  if lock_image_tower:
    lock_tower(model.image_encoder)
  if lock_text_tower:
    lock_tower(text_encoder)
  return model
