# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The ALIGN dual encoder and its cross-replica contrastive training step."""
import inspect
import math
from typing import Any, Callable, Dict, Mapping, Optional

import gin
import tensorflow as tf
import tf_keras

from official.align import losses
from official.align import preprocessing as preprocessing_lib
from official.align.modeling import image_encoder as image_encoder_lib
from official.align.modeling import text_encoder as text_encoder_lib

IMAGE_KEY = "image"
TEXT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")


def _l2_normalize(x: tf.Tensor) -> tf.Tensor:
  # Embeddings leave the (possibly bfloat16) towers as float32.
  return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1)


@gin.configurable
class AlignModel(tf_keras.Model):
  """Image and text towers, L2-normalised, and one learned temperature.

  Call: a dict with `image` float [batch, H, W, 3] and the int32
  [batch, seq_length] `input_word_ids`, `input_mask`, `input_type_ids` →
  dict of float32 [batch, embed_dim] `image_embeddings` and
  `text_embeddings`, unit L2 norm. Either modality may be absent.

  `train_step` and `test_step` compute `loss_fn` (`losses.contrastive_loss`
  by default, or `losses.sigmoid_loss`) with in-batch negatives gathered from
  every replica, under any `tf.distribute` strategy. The temperature (and
  the sigmoid loss's bias) and the loss stay float32 under mixed precision.
  """

  def __init__(self,
               image_encoder: tf_keras.Model = gin.REQUIRED,
               text_encoder: tf_keras.Model = gin.REQUIRED,
               temperature_init: float = 1.0,
               learn_temperature: bool = True,
               loss_fn: Callable[..., Any] = losses.contrastive_loss,
               logit_bias_init: Optional[float] = None,
               name: str = "align",
               **kwargs):
    """Builds the dual encoder.

    Args:
      image_encoder: maps images to [batch, embed_dim] (e.g. `ImageEncoder`).
      text_encoder: maps token ids to [batch, embed_dim] (e.g. `TextEncoder`).
      temperature_init: initial temperature (logits = cosine / temperature).
      learn_temperature: train the temperature, or keep it fixed.
      loss_fn: the contrastive loss (its options are gin-bound):
        `losses.contrastive_loss` (softmax) or `losses.sigmoid_loss`.
      logit_bias_init: initial logit bias of a loss that takes one
        (`sigmoid_loss`: -10, Zhai et al. 2023); unused otherwise. Such a
        loss also learns the temperature as SigLIP does, in log space:
        variables `log_logit_scale` = -log(temperature) and `logit_bias`,
        both float32 and trained unless `learn_temperature` is False.
      name: model name.
      **kwargs: forwarded to `tf_keras.Model`.
    """
    super().__init__(name=name, **kwargs)
    self.image_encoder = image_encoder
    self.text_encoder = text_encoder
    self.loss_fn = loss_fn
    self.log_logit_scale = self.logit_bias = None
    if "logit_bias" in inspect.signature(loss_fn).parameters:
      if logit_bias_init is None:
        raise ValueError("This loss learns a logit bias: bind "
                         "AlignModel.logit_bias_init (sigmoid_loss: -10.0).")
      self.log_logit_scale = self.add_weight(
          name="log_logit_scale", shape=(), dtype=tf.float32,
          initializer=tf_keras.initializers.Constant(
              -math.log(temperature_init)),
          trainable=learn_temperature)
      self.logit_bias = self.add_weight(
          name="logit_bias", shape=(), dtype=tf.float32,
          initializer=tf_keras.initializers.Constant(logit_bias_init),
          trainable=learn_temperature)
      self._temperature = None
    else:
      # Checkpointed as "temperature" (the weight's name), as ever.
      self._temperature = self._no_dependency(self.add_weight(
          name="temperature", shape=(), dtype=tf.float32,
          initializer=tf_keras.initializers.Constant(temperature_init),
          trainable=learn_temperature))
    self._loss_tracker = tf_keras.metrics.Mean(name="loss")

  @property
  def temperature(self):
    """Logits = cosine / temperature: a float32 scalar variable, or (with a
    logit bias) the tensor exp(-log_logit_scale)."""
    if self._temperature is not None:
      return self._temperature
    return tf.exp(-self.log_logit_scale)

  @property
  def logit_parameters(self) -> Dict[str, tf.Variable]:
    """The learnable logit variables by checkpoint name (`temperature`, or
    `log_logit_scale` and `logit_bias`)."""
    if self._temperature is not None:
      return {"temperature": self._temperature}
    return {"log_logit_scale": self.log_logit_scale,
            "logit_bias": self.logit_bias}

  def encode_image(self, images: tf.Tensor, training=None) -> tf.Tensor:
    """float [batch, H, W, 3] → float32 [batch, embed_dim], unit norm."""
    return _l2_normalize(self.image_encoder(images, training=training))

  def encode_text(self, inputs: Mapping[str, tf.Tensor],
                  training=None) -> tf.Tensor:
    """Token-id dict → float32 [batch, embed_dim], unit norm."""
    return _l2_normalize(self.text_encoder(
        {k: inputs[k] for k in TEXT_KEYS}, training=training))

  def call(self, inputs: Mapping[str, tf.Tensor],
           training=None) -> Dict[str, tf.Tensor]:
    outputs = {}
    if IMAGE_KEY in inputs:
      outputs["image_embeddings"] = self.encode_image(
          inputs[IMAGE_KEY], training=training)
    if all(k in inputs for k in TEXT_KEYS):
      outputs["text_embeddings"] = self.encode_text(inputs, training=training)
    return outputs

  @property
  def metrics(self):
    return [self._loss_tracker]

  def compute_contrastive_loss(self, inputs: Mapping[str, tf.Tensor],
                               training: bool):
    """Forward pass and this replica's loss (mean over its local rows)."""
    embeddings = self(inputs, training=training)
    extra = {} if self.logit_bias is None else {"logit_bias": self.logit_bias}
    return self.loss_fn(embeddings["image_embeddings"],
                        embeddings["text_embeddings"], self.temperature,
                        **extra)

  def compute_gradients(self, data: Mapping[str, tf.Tensor]):
    """One replica's share of a training step, before the update.

    Returns:
      (gradients, output, gradient_norm): gradients of the global-batch mean
      loss for `self.trainable_variables`, already summed over replicas
      (identical on every replica); this replica's loss output (e.g.
      `ContrastiveLossOutput`); the global norm of the gradients.
    """
    return compute_replica_gradients(
        self, lambda: self.compute_contrastive_loss(data, training=True))

  def train_step(self, data: Mapping[str, tf.Tensor]) -> Dict[str, Any]:
    gradients, output, gradient_norm = self.compute_gradients(data)
    apply_aggregated_gradients(
        self.optimizer, zip(gradients, self.trainable_variables))
    return self.step_logs(output, gradient_norm=gradient_norm)

  def test_step(self, data: Mapping[str, tf.Tensor]) -> Dict[str, Any]:
    output = self.compute_contrastive_loss(data, training=False)
    return self.step_logs(output)

  def step_logs(self, output, **extra) -> Dict[str, Any]:
    """Global-batch scalars, identical on every replica."""
    replica_context = tf.distribute.get_replica_context()
    mean = lambda x: replica_context.all_reduce(tf.distribute.ReduceOp.MEAN, x)
    loss = mean(output.loss)
    self._loss_tracker.update_state(loss)
    logs = {
        "loss": self._loss_tracker.result(),
        "step_loss": loss,
        "image_to_text_accuracy": mean(output.image_to_text_accuracy),
        "text_to_image_accuracy": mean(output.text_to_image_accuracy),
        "temperature": tf.identity(self.temperature),
    }
    if self.logit_bias is not None:
      logs["logit_bias"] = tf.identity(self.logit_bias)
    logs.update(extra)
    return logs

  def get_config(self):
    return dict(name=self.name)


def _uses_loss_scaling(optimizer) -> bool:
  """True for a float16 `LossScaleOptimizer` (bfloat16 needs no scaling)."""
  return hasattr(optimizer, "get_scaled_loss")


def compute_replica_gradients(model: tf_keras.Model,
                              forward: Callable[[], Any]):
  """One replica's share of a training step of `model`, before the update.

  Args:
    model: compiled (`model.optimizer`, maybe a float16
      `LossScaleOptimizer`).
    forward: the training forward pass; returns an output whose `loss` is
      this replica's mean loss (float32 scalar).

  Returns:
    (gradients, output, gradient_norm): gradients of the global-batch mean
    loss for `model.trainable_variables`, already summed over replicas
    (identical on every replica); `forward()`'s output; the global norm of
    the gradients.
  """
  replica_context = tf.distribute.get_replica_context()
  optimizer = model.optimizer
  with tf.GradientTape() as tape:
    output = forward()
    # Summing gradients of loss / R over replicas yields the gradient of
    # the mean loss over the global batch, whatever R is.
    scaled_loss = output.loss / replica_context.num_replicas_in_sync
    if _uses_loss_scaling(optimizer):
      scaled_loss = optimizer.get_scaled_loss(scaled_loss)
  gradients = tape.gradient(scaled_loss, model.trainable_variables)
  if _uses_loss_scaling(optimizer):
    gradients = optimizer.get_unscaled_gradients(gradients)
  # Aggregate here rather than in the optimizer so the logged norm is the
  # norm of the gradient actually applied.
  gradients = replica_context.all_reduce(tf.distribute.ReduceOp.SUM,
                                         gradients)
  return gradients, output, tf.linalg.global_norm(gradients)


def apply_aggregated_gradients(optimizer, grads_and_vars):
  """Applies gradients already summed over replicas."""
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  if isinstance(inner, tf_keras.optimizers.legacy.Optimizer):
    optimizer.apply_gradients(grads_and_vars,
                              experimental_aggregate_gradients=False)
  else:
    optimizer.apply_gradients(grads_and_vars, skip_gradients_aggregation=True)


@gin.configurable
def build_align_model(
    image_encoder_cls=image_encoder_lib.ImageEncoder,
    text_encoder_cls=text_encoder_lib.TextEncoder,
    preprocessing: Optional[preprocessing_lib.Preprocessing] = None
) -> AlignModel:
  """Builds an `AlignModel` from gin-bound towers, with its variables.

  Args:
    image_encoder_cls: constructor of the image tower (gin-configured).
    text_encoder_cls: constructor of the text tower (gin-configured).
    preprocessing: its `image_size` and `seq_length` shape the inputs that
      create the variables; default the gin-bound `Preprocessing()`.
  """
  preprocessing = preprocessing or preprocessing_lib.Preprocessing()
  image_size, seq_length = preprocessing.image_size, preprocessing.seq_length
  model = AlignModel(image_encoder=image_encoder_cls(),
                     text_encoder=text_encoder_cls())
  model({
      IMAGE_KEY: tf.zeros([1, image_size, image_size, 3]),
      **{k: tf.zeros([1, seq_length], tf.int32) for k in TEXT_KEYS}
  })
  return model
