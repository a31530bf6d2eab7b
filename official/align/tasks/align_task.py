# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN pre-training (and retrieval fine-tuning) as a `runtime.task.Task`.

    TrainConfig.task = @AlignTask()
    AlignTask.train_file_pattern = '/data/shards/*.tfrecord'
    Preprocessing.vocab_file = '/data/vocab.txt'
    AlignTask.init_checkpoint = 'runs/b7'       # optional: start from a run
    AlignTask.evaluator_fn = @build_demo_evaluator   # optional evaluation

The model is the gin-configured `AlignModel` of
`modeling.align_model.build_align_model`, the data `InputReader` batches of
the task's `Preprocessing`.
"""
from typing import Callable, Dict, Optional

from absl import logging
import gin
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.align import run_dir
from official.align.checkpoints import compat
from official.align.dataloaders import input_reader
from official.align.modeling import align_model

MODEL_KEYS = (align_model.IMAGE_KEY,) + align_model.TEXT_KEYS
MEAN_LOG_KEYS = ("step_loss", "image_to_text_accuracy",
                 "text_to_image_accuracy", "gradient_norm")
@gin.configurable
class AlignTask:
  """ALIGN contrastive training of the gin-configured `AlignModel`.

  Implements `runtime.task.Task`.
  """
  input_keys = MODEL_KEYS
  log_keys = MEAN_LOG_KEYS

  def __init__(self,
               train_file_pattern: Optional[str] = None,
               model_fn: Callable[..., align_model.AlignModel] = (
                   align_model.build_align_model),
               init_checkpoint: Optional[str] = None,
               evaluator_fn: Optional[Callable] = None,
               preprocessing: Optional[
                   preprocessing_lib.Preprocessing] = None):
    """Configures the task.

    Args:
      train_file_pattern: glob(s) of training shards (`InputReader`).
      model_fn: (preprocessing=...) -> built `AlignModel` (gin-configured).
      init_checkpoint: a pre-trained ALIGN checkpoint (prefix, checkpoint
        dir or model dir) to start from, e.g. for retrieval fine-tuning;
        only the model is read, and a model dir's recorded preprocessing is
        used (`run_dir.init_preprocessing`). A checkpoint of the run itself
        (resume) takes precedence.
      evaluator_fn: (model, preprocessing, config) -> an evaluator with
        `.evaluate()`, or None for no evaluation; e.g. the demo world's
        `@build_demo_evaluator`.
      preprocessing: default: the gin-bound `Preprocessing()`.
    """
    self._train_file_pattern = train_file_pattern
    self._model_fn = model_fn
    self._init_checkpoint = init_checkpoint
    self._evaluator_fn = evaluator_fn
    self.preprocessing = run_dir.init_preprocessing(
        init_checkpoint, preprocessing or preprocessing_lib.Preprocessing(),
        "AlignTask")

  @property
  def train_file_pattern(self) -> Optional[str]:
    return self._train_file_pattern

  def build_model(self) -> align_model.AlignModel:
    model = self._model_fn(preprocessing=self.preprocessing)
    # A vocabulary larger than the embedding table: one-line ConfigError
    # now, not an id error in the first step.
    compat.check_vocabulary_fits_model(self.preprocessing.vocab_file, model)
    if self._init_checkpoint:
      try:
        prefix = run_dir.resolve_checkpoint(self._init_checkpoint)
      except run_dir.CheckpointNotFoundError:
        raise ValueError("AlignTask.init_checkpoint: no checkpoint in "
                         f"{self._init_checkpoint}") from None
      # Only the towers and the temperature (or the sigmoid loss's scale
      # and bias): not an optimizer that the saved model or this one may
      # carry, nor the data iterator.
      weights = tf.train.Checkpoint(image_encoder=model.image_encoder,
                                    text_encoder=model.text_encoder,
                                    **model.logit_parameters)
      status = tf.train.Checkpoint(model=weights).read(prefix)
      status.expect_partial()
      status.assert_existing_objects_matched()
      logging.info("Initialised the model from %s.", prefix)
    return model

  def build_inputs(self, config) -> input_reader.InputReader:
    missing = [name for name, value in (
        ("AlignTask.train_file_pattern", self._train_file_pattern),
        ("Preprocessing.vocab_file", self.preprocessing.vocab_file))
               if not value]
    if missing:
      raise ValueError("AlignTask needs " + " and ".join(missing) +
                       " (gin bindings).")
    return input_reader.InputReader(
        self._train_file_pattern, config.global_batch_size,
        is_training=True, deterministic=config.deterministic,
        seed=config.seed, preprocessing=self.preprocessing)

  def summary_scalars(self, model) -> Dict[str, float]:
    scalars = {"temperature": float(model.temperature.numpy())}
    if model.logit_bias is not None:
      scalars["logit_bias"] = float(model.logit_bias.numpy())
    return scalars

  def build_evaluator(self, model, config):
    if self._evaluator_fn is None:
      return None
    return self._evaluator_fn(model, self.preprocessing, config)

  def write_sample_images(self, writer, config, step: int):
    """A few training images with their captions as an image summary."""
    if config.num_summary_images <= 0:
      return
    reader = input_reader.InputReader(
        self._train_file_pattern, config.num_summary_images,
        is_training=True, deterministic=True, seed=0, return_text=True,
        shuffle_buffer_size=64, preprocessing=self.preprocessing)
    batch = next(iter(reader(None)))
    captions = [t.decode("utf-8", "replace") for t in batch["text"].numpy()]
    description = "\n".join(f"{i}: {c}" for i, c in enumerate(captions))
    with writer.as_default():
      tf.summary.image("train_examples",
                       tf.clip_by_value(batch["image"], 0, 1), step=step,
                       max_outputs=config.num_summary_images,
                       description=description)
      tf.summary.text("train_example_captions", tf.constant(
          [f"{i}: {c}" for i, c in enumerate(captions)]), step=step)

