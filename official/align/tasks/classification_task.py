# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Image classification as a `runtime.task.Task` (linear probe, fine-tuning).

    TrainConfig.task = @ClassificationTask()
    ClassificationTask.train_data = '/data/imagenet/train-*'   # or a dir
    ClassificationTask.eval_data = '/data/imagenet/validation-*'
    build_classifier_model.num_classes = 1000
    build_classifier_model.init_checkpoint = 'runs/b7'         # ALIGN run
    configure_towers.lock_image_tower = True                   # linear probe

`runtime.trainer.train` then runs the same loop as for ALIGN (strategies,
checkpoints and resume, SIGTERM, NaN policy, TensorBoard) on the
`ClassifierModel`, logging loss, top-1/top-5 accuracy and the gradient norm,
and evaluating top-1/top-5 on `eval_data` at `TrainConfig.eval_interval`.
The images are prepared as the pre-trained run prepared them: its recorded
`Preprocessing` (pixel range, crop), see `run_dir.init_preprocessing`.
"""
from typing import Callable, Dict, Optional

import gin
import numpy as np
import tensorflow as tf

from official.align.transfer import classification_input
from official.align.transfer import classifier_model


class ClassificationEvaluator:
  """Top-1/top-5 accuracy and mean loss of a classifier over one pass."""

  def __init__(self, model: classifier_model.ClassifierModel,
               dataset_fn: Callable[[], tf.data.Dataset]):
    self._model = model
    self._dataset_fn = dataset_fn

    @tf.function
    def counts(batch):
      output = model.compute_classification_loss(batch, training=False)
      n = tf.cast(tf.shape(batch["label"])[0], tf.float32)
      return tf.stack([output.loss * n, output.top1_accuracy * n,
                       output.top5_accuracy * n, n])
    self._counts = counts

  def evaluate(self) -> Dict:
    """Returns {"metrics": {loss, top1_accuracy, top5_accuracy},
    "num_examples": int}."""
    totals = np.zeros(4)
    for batch in self._dataset_fn():
      totals += self._counts(batch).numpy()
    if totals[3] == 0:
      raise ValueError("The evaluation data yielded no examples.")
    loss, top1, top5 = totals[:3] / totals[3]
    return {"metrics": {"loss": float(loss), "top1_accuracy": float(top1),
                        "top5_accuracy": float(top5)},
            "num_examples": int(totals[3])}


@gin.configurable
class ClassificationTask:
  """Trains a `ClassifierModel` on (image, label) data.

  Implements `runtime.task.Task`; `preprocessing` is the model's (known
  after `build_model`).
  """
  input_keys = classifier_model.INPUT_KEYS
  log_keys = ("step_loss", "top1_accuracy", "top5_accuracy", "gradient_norm")

  def __init__(self,
               train_data: str = gin.REQUIRED,
               eval_data: Optional[str] = None,
               model_fn: Callable[[], classifier_model.ClassifierModel] = (
                   classifier_model.build_classifier_model),
               reader_cls=classification_input.ClassificationInputReader):
    """Configures the task.

    Args:
      train_data: ImageFolder directory or TFRecord glob (see
        `classification_input`).
      eval_data: the same for evaluation, or None.
      model_fn: () -> built `ClassifierModel` (gin-configured).
      reader_cls: reader constructor (its options are gin-bound).
    """
    self._train_data = train_data
    self._eval_data = eval_data
    self._model_fn = model_fn
    self._reader_cls = reader_cls
    self._num_classes = None
    self.preprocessing = None

  def build_model(self) -> classifier_model.ClassifierModel:
    model = self._model_fn()
    self._num_classes = model.num_classes
    self.preprocessing = model.preprocessing
    return model

  def build_inputs(self, config) -> Callable:
    """The training `dataset_fn(input_context)` (after `build_model`)."""
    return self._reader_cls(
        self._train_data, config.global_batch_size, is_training=True,
        num_classes=self._num_classes, deterministic=config.deterministic,
        seed=config.seed, preprocessing=self.preprocessing)

  def summary_scalars(self, model) -> Dict[str, float]:
    del model
    return {}

  def build_evaluator(self, model, config
                      ) -> Optional[ClassificationEvaluator]:
    if not self._eval_data:
      return None
    reader = self._reader_cls(
        self._eval_data, config.eval_batch_size, is_training=False,
        num_classes=model.num_classes, deterministic=True,
        preprocessing=self.preprocessing)
    return ClassificationEvaluator(model, lambda: reader(None))

  def write_sample_images(self, writer, config, step: int):
    """A few training images with their labels as an image summary."""
    if config.num_summary_images <= 0:
      return
    reader = self._reader_cls(
        self._train_data, config.num_summary_images, is_training=True,
        num_classes=self._num_classes, deterministic=True, seed=0,
        shuffle_buffer_size=64, preprocessing=self.preprocessing)
    batch = next(iter(reader(None)))
    labels = batch["label"].numpy().tolist()
    names = reader.class_names
    text = "\n".join(f"{i}: {names[l] if names else l}"
                     for i, l in enumerate(labels))
    with writer.as_default():
      tf.summary.image("train_examples",
                       tf.clip_by_value(batch["image"], 0, 1), step=step,
                       max_outputs=config.num_summary_images,
                       description=text)
