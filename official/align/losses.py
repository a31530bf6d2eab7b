# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN's normalized-softmax contrastive loss, and SigLIP's sigmoid loss,
across replicas.

Every replica holds a local batch of `b` image/text embedding pairs. The
embeddings of all `R` replicas are all-gathered into `B = R * b` columns; each
replica scores its `b` local rows against the `B` global columns, so every
pair sees all `B - 1` in-batch negatives of the global batch. The positive of
local row `i` is global column `replica_id * b + i`.

Gradients: `ReplicaContext.all_gather` back-propagates by summing the upstream
gradients of all replicas and slicing this replica's rows, so remote rows'
contributions do reach the local tower. The per-replica loss returned here is
the mean over local rows; dividing it by `R` before differentiating and
summing gradients over replicas (what `AlignModel.train_step` does) gives
exactly the gradient of the single-device loss at global batch `B`.

`sigmoid_loss` (Zhai et al. 2023) follows the same contract: local image rows
against all-gathered text columns, each replica's row sums averaged over its
rows, so the replica mean is the paper's sum over the B x B pairs / B.
"""
import dataclasses

import gin
import tensorflow as tf
import tf_keras

DIRECTION_REDUCTIONS = ("sum", "mean")


@dataclasses.dataclass(frozen=True)
class ContrastiveLossOutput:
  """Per-replica results, all float32 scalars over this replica's rows.

  Attributes:
    loss: image→text plus (or averaged with) text→image cross-entropy, mean
      over the local rows.
    image_to_text_loss: mean cross-entropy of each image against all texts.
    text_to_image_loss: mean cross-entropy of each text against all images.
    image_to_text_accuracy: fraction of local images whose best-scoring text
      in the global batch is their own caption.
    text_to_image_accuracy: the same for local texts against global images.
  """
  loss: tf.Tensor
  image_to_text_loss: tf.Tensor
  text_to_image_loss: tf.Tensor
  image_to_text_accuracy: tf.Tensor
  text_to_image_accuracy: tf.Tensor


def _smoothed_cross_entropy(labels, logits, label_smoothing):
  """Mean softmax cross-entropy; `labels` int [b], `logits` float32 [b, B]."""
  one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
  return tf.reduce_mean(
      tf_keras.losses.categorical_crossentropy(
          one_hot, logits, from_logits=True, label_smoothing=label_smoothing))


def _accuracy(labels, logits):
  predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
  return tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))


def _gather_global_batch(image_embeddings: tf.Tensor,
                         text_embeddings: tf.Tensor):
  """All replicas' embeddings, and where this replica's rows sit in them.

  Args:
    image_embeddings: float32 [local_batch, dim], this replica's.
    text_embeddings: float32 [local_batch, dim], this replica's.

  Returns:
    (global images [global_batch, dim], global texts [global_batch, dim],
    int32 [local_batch] column of each local row's positive pair).
  """
  replica_context = tf.distribute.get_replica_context()
  global_images = replica_context.all_gather(image_embeddings, axis=0)
  global_texts = replica_context.all_gather(text_embeddings, axis=0)
  local_batch = tf.shape(image_embeddings)[0]
  replica_id = tf.cast(replica_context.replica_id_in_sync_group, tf.int32)
  labels = replica_id * local_batch + tf.range(local_batch, dtype=tf.int32)
  return global_images, global_texts, labels


@gin.configurable(denylist=["image_embeddings", "text_embeddings",
                            "temperature"])
def contrastive_loss(image_embeddings: tf.Tensor,
                     text_embeddings: tf.Tensor,
                     temperature: tf.Tensor,
                     label_smoothing: float = 0.1,
                     direction_reduction: str = "sum"
                     ) -> ContrastiveLossOutput:
  """ALIGN's normalized-softmax loss for one replica's local batch.

  Must run in a replica context (inside `strategy.run`, or anywhere when no
  strategy is active).

  Args:
    image_embeddings: float [b, d], L2-normalised, this replica's images.
    text_embeddings: float [b, d], L2-normalised; row i is image i's caption.
    temperature: float scalar > 0; logits are cosine similarity / temperature.
    label_smoothing: mass spread uniformly over the B global columns.
    direction_reduction: "sum" adds the image→text and text→image losses as in
      the paper (Jia et al. 2021, eq. 1-2); "mean" averages them as the
      Hugging Face port does (half the loss and gradients of "sum").

  Returns:
    A `ContrastiveLossOutput` of float32 scalars for this replica's rows.
  """
  if direction_reduction not in DIRECTION_REDUCTIONS:
    raise ValueError(f"direction_reduction must be one of "
                     f"{DIRECTION_REDUCTIONS}, got {direction_reduction!r}")
  image_embeddings = tf.cast(image_embeddings, tf.float32)
  text_embeddings = tf.cast(text_embeddings, tf.float32)
  temperature = tf.cast(temperature, tf.float32)

  global_images, global_texts, labels = _gather_global_batch(
      image_embeddings, text_embeddings)

  image_to_text_logits = tf.matmul(
      image_embeddings, global_texts, transpose_b=True) / temperature
  text_to_image_logits = tf.matmul(
      text_embeddings, global_images, transpose_b=True) / temperature

  image_to_text_loss = _smoothed_cross_entropy(
      labels, image_to_text_logits, label_smoothing)
  text_to_image_loss = _smoothed_cross_entropy(
      labels, text_to_image_logits, label_smoothing)
  loss = image_to_text_loss + text_to_image_loss
  if direction_reduction == "mean":
    loss = loss / 2.0
  return ContrastiveLossOutput(
      loss=loss,
      image_to_text_loss=image_to_text_loss,
      text_to_image_loss=text_to_image_loss,
      image_to_text_accuracy=_accuracy(labels, image_to_text_logits),
      text_to_image_accuracy=_accuracy(labels, text_to_image_logits))


@dataclasses.dataclass(frozen=True)
class SigmoidLossOutput:
  """Per-replica results of `sigmoid_loss`, float32 scalars.

  Attributes:
    loss: the pairwise logistic loss of this replica's image rows against
      all texts of the global batch, summed over the texts and averaged
      over the local rows.
    image_to_text_accuracy: fraction of local images whose best-scoring text
      in the global batch is their own caption.
    text_to_image_accuracy: the same for local texts against global images.
  """
  loss: tf.Tensor
  image_to_text_accuracy: tf.Tensor
  text_to_image_accuracy: tf.Tensor


@gin.configurable(denylist=["image_embeddings", "text_embeddings",
                            "temperature", "logit_bias"])
def sigmoid_loss(image_embeddings: tf.Tensor,
                 text_embeddings: tf.Tensor,
                 temperature: tf.Tensor,
                 logit_bias: tf.Tensor) -> SigmoidLossOutput:
  """SigLIP's pairwise sigmoid loss for one replica's local batch.

  Zhai et al. 2023, "Sigmoid Loss for Language Image Pre-Training", alg. 1:
  every image-text pair of the global batch is a binary classification,
  positive on the diagonal, with logit `cos / temperature + logit_bias`; the
  loss is `-sum(log_sigmoid(label * logit))` over the B x B pairs divided by
  B. Here each replica scores its `b` local images against the `B`
  all-gathered texts (the local image's caption is global column
  `replica_id * b + i`) and returns its row sum averaged over its `b` rows,
  so the mean over replicas is the paper's loss at global batch `B` (the
  same contract as `contrastive_loss`; see the module docstring). Every pair
  is scored once, on the replica holding its image.

  Must run in a replica context.

  Args:
    image_embeddings: float [b, d], L2-normalised, this replica's images.
    text_embeddings: float [b, d], L2-normalised; row i is image i's caption.
    temperature: float scalar > 0 (SigLIP's t' is 1 / temperature).
    logit_bias: float scalar added to every logit (SigLIP's b).

  Returns:
    A `SigmoidLossOutput` of float32 scalars for this replica's rows.
  """
  image_embeddings = tf.cast(image_embeddings, tf.float32)
  text_embeddings = tf.cast(text_embeddings, tf.float32)
  temperature = tf.cast(temperature, tf.float32)
  logit_bias = tf.cast(logit_bias, tf.float32)

  global_images, global_texts, labels = _gather_global_batch(
      image_embeddings, text_embeddings)

  logits = tf.matmul(image_embeddings, global_texts,
                     transpose_b=True) / temperature + logit_bias
  # +1 on each row's positive column, -1 elsewhere.
  signs = 2.0 * tf.one_hot(labels, tf.shape(logits)[1]) - 1.0
  loss = -tf.reduce_mean(tf.reduce_sum(
      tf.math.log_sigmoid(signs * logits), axis=1))
  # Accuracy only: no gradient flows through the text→image scores.
  text_to_image_logits = tf.matmul(
      text_embeddings, tf.stop_gradient(global_images), transpose_b=True)
  return SigmoidLossOutput(
      loss=loss,
      image_to_text_accuracy=_accuracy(labels, logits),
      text_to_image_accuracy=_accuracy(labels, text_to_image_logits))
