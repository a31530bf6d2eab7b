# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""An image classifier on the ALIGN image tower (linear probe, fine-tuning).

`ClassifierModel` = image tower → (optionally L2-normalised) features → one
linear head. Its own `train_step`/`test_step` compute softmax cross-entropy
(optional label smoothing) and top-1/top-5 accuracy, with the same
cross-replica conventions as `AlignModel` (gradients of the global-batch mean
loss, summed once over replicas), so the trainer's loop, NaN policies and
checkpointing apply unchanged.

Linear probe: lock the tower (`configure_towers.lock_image_tower = True`,
frozen weights, BatchNorm in inference mode). Fine-tuning: leave it
trainable. `build_classifier_model.init_checkpoint` restores only the image
tower from an ALIGN checkpoint (`AlignModel` and `ClassifierModel` both keep
the tower under `model/image_encoder`, so either kind of checkpoint works).
"""
import collections
from typing import Any, Dict, Mapping, Optional, Union

import gin
import tensorflow as tf
import tf_keras

from official.align import preprocessing as preprocessing_lib
from official.align import run_dir
from official.align.modeling import align_model
from official.align.modeling import image_encoder as image_encoder_lib

IMAGE_KEY = "image"
LABEL_KEY = "label"
INPUT_KEYS = (IMAGE_KEY, LABEL_KEY)

ClassificationOutput = collections.namedtuple(
    "ClassificationOutput", ["loss", "top1_accuracy", "top5_accuracy"])


@gin.configurable
class ClassifierModel(tf_keras.Model):
  """Image tower + linear classification head.

  Call: float images [batch, H, W, 3] (or a dict with `image`) → float32
  logits [batch, num_classes].
  """

  def __init__(self,
               image_encoder: tf_keras.Model = gin.REQUIRED,
               num_classes: int = gin.REQUIRED,
               normalize_features: bool = False,
               label_smoothing: float = 0.0,
               head_kernel_initializer: str = "zeros",
               name: str = "classifier",
               **kwargs):
    """Builds the classifier.

    Args:
      image_encoder: image tower, images → [batch, dim] features (e.g. the
        ALIGN `ImageEncoder`: pooled last-block features, projected if it
        has a projection).
      num_classes: number of classes.
      normalize_features: L2-normalise the features before the head (the
        ALIGN embedding space; cosine-similarity probes).
      label_smoothing: of the cross-entropy.
      head_kernel_initializer: of the head (zeros: start at uniform
        predictions, the usual fine-tuning choice).
      name: model name.
      **kwargs: forwarded to `tf_keras.Model`.
    """
    super().__init__(name=name, **kwargs)
    if num_classes < 2:
      raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
    self.image_encoder = image_encoder
    self.num_classes = num_classes
    self.normalize_features = normalize_features
    self.label_smoothing = label_smoothing
    # float32 head and logits under mixed precision.
    self.head = tf_keras.layers.Dense(
        num_classes, kernel_initializer=head_kernel_initializer,
        dtype="float32", name="head")
    self._loss_tracker = tf_keras.metrics.Mean(name="loss")

  def call(self, inputs: Union[tf.Tensor, Mapping[str, tf.Tensor]],
           training=None) -> tf.Tensor:
    images = inputs[IMAGE_KEY] if isinstance(inputs, Mapping) else inputs
    features = tf.cast(self.image_encoder(images, training=training),
                       tf.float32)
    if self.normalize_features:
      features = tf.math.l2_normalize(features, axis=-1)
    return self.head(features)

  @property
  def metrics(self):
    return [self._loss_tracker]

  def compute_classification_loss(self, data: Mapping[str, tf.Tensor],
                                  training: bool) -> ClassificationOutput:
    """This replica's mean loss and accuracies over its local examples."""
    logits = self(data[IMAGE_KEY], training=training)
    labels = tf.cast(tf.reshape(data[LABEL_KEY], [-1]), tf.int32)
    one_hot = tf.one_hot(labels, self.num_classes, dtype=tf.float32)
    loss = tf.reduce_mean(tf_keras.losses.categorical_crossentropy(
        one_hot, logits, from_logits=True,
        label_smoothing=self.label_smoothing))
    top_k = lambda k: tf.reduce_mean(tf.cast(
        tf.math.in_top_k(labels, logits, min(k, self.num_classes)),
        tf.float32))
    return ClassificationOutput(loss, top_k(1), top_k(5))

  def compute_gradients(self, data: Mapping[str, tf.Tensor]):
    """Gradients of the global-batch mean loss, summed over replicas.

    Returns:
      (gradients, output, gradient_norm), as `AlignModel.compute_gradients`.
    """
    return align_model.compute_replica_gradients(
        self, lambda: self.compute_classification_loss(data, training=True))

  def train_step(self, data: Mapping[str, tf.Tensor]) -> Dict[str, Any]:
    gradients, output, gradient_norm = self.compute_gradients(data)
    align_model.apply_aggregated_gradients(
        self.optimizer, zip(gradients, self.trainable_variables))
    return self.step_logs(output, gradient_norm=gradient_norm)

  def test_step(self, data: Mapping[str, tf.Tensor]) -> Dict[str, Any]:
    return self.step_logs(self.compute_classification_loss(data,
                                                           training=False))

  def step_logs(self, output: ClassificationOutput, **extra
                ) -> Dict[str, Any]:
    """Global-batch scalars, identical on every replica."""
    replica_context = tf.distribute.get_replica_context()
    mean = lambda x: replica_context.all_reduce(tf.distribute.ReduceOp.MEAN, x)
    loss = mean(output.loss)
    self._loss_tracker.update_state(loss)
    logs = {"loss": self._loss_tracker.result(), "step_loss": loss,
            "top1_accuracy": mean(output.top1_accuracy),
            "top5_accuracy": mean(output.top5_accuracy)}
    logs.update(extra)
    return logs

  def get_config(self):
    return dict(name=self.name, num_classes=self.num_classes,
                normalize_features=self.normalize_features,
                label_smoothing=self.label_smoothing)


def restore_image_tower(image_encoder: tf_keras.Model, path: str) -> str:
  """Restores only the image tower from an ALIGN (or classifier) checkpoint.

  Args:
    image_encoder: the built tower.
    path: checkpoint prefix, checkpoint directory or model dir.

  Returns:
    The checkpoint prefix restored.

  Raises:
    run_dir.CheckpointNotFoundError: (a ValueError) no checkpoint at `path`.
    AssertionError: some tower variable is not in the checkpoint (e.g. a
      tower of another shape).
  """
  prefix = run_dir.resolve_checkpoint(path)
  status = tf.train.Checkpoint(  # `read`: no save counter needed.
      model=tf.train.Checkpoint(image_encoder=image_encoder)).read(prefix)
  status.expect_partial()  # The text tower, optimizer, iterator stay unread.
  status.assert_existing_objects_matched()
  return prefix


@gin.configurable
def build_classifier_model(
    num_classes: int = gin.REQUIRED,
    image_encoder_cls=image_encoder_lib.ImageEncoder,
    init_checkpoint: Optional[str] = None,
    preprocessing: Optional[preprocessing_lib.Preprocessing] = None
) -> ClassifierModel:
  """Builds a `ClassifierModel` (gin-bound tower), optionally pre-trained.

  Args:
    num_classes: number of classes.
    image_encoder_cls: constructor of the image tower (gin-configured, same
      bindings as the ALIGN run whose checkpoint is loaded).
    init_checkpoint: ALIGN checkpoint (prefix, checkpoint dir or model dir)
      whose image tower initialises this one; None: random initialisation.
    preprocessing: default the gin-bound `Preprocessing()`; with an
      `init_checkpoint` model dir, the one it recorded
      (`run_dir.init_preprocessing`). Its `image_size` is the square input
      size used to create the variables; the model keeps it as
      `model.preprocessing` for the task's readers.
  """
  preprocessing = run_dir.init_preprocessing(
      init_checkpoint, preprocessing or preprocessing_lib.Preprocessing(),
      "build_classifier_model")
  image_size = preprocessing.image_size
  model = ClassifierModel(image_encoder=image_encoder_cls(),
                          num_classes=num_classes)
  model.preprocessing = preprocessing  # What the task's readers must feed.
  model(tf.zeros([1, image_size, image_size, 3]))
  if init_checkpoint:
    restore_image_tower(model.image_encoder, init_checkpoint)
  return model
