"""Tiny ALIGN towers and batches shared by the tests (CPU, seconds to build)."""
import numpy as np
import tensorflow as tf
import tf_keras

from official.align.modeling import align_model
from official.align.modeling import image_encoder
from official.align.modeling import text_encoder

IMAGE_SIZE = 32
SEQ_LENGTH = 8
VOCAB_SIZE = 50
EMBED_DIM = 16


def mirrored_strategy(num_replicas: int) -> tf.distribute.MirroredStrategy:
  """A `MirroredStrategy` over the first `num_replicas` logical CPUs.

  Collective ops key their groups per strategy object, so collective-based
  strategies of different sizes in one process clash ("joining a group with
  size 2, but that group has size 4"); reducing through one device avoids
  collectives and leaves the arithmetic under test unchanged. Every test
  that builds a multi-replica strategy uses this.
  """
  return tf.distribute.MirroredStrategy(
      [f"/cpu:{i}" for i in range(num_replicas)],
      cross_device_ops=tf.distribute.ReductionToOneDevice())


def tiny_image_encoder(use_sync_bn: bool = False):
  """The real `ImageEncoder` at width 0.25, one block per stage."""
  return image_encoder.ImageEncoder(
      model_id="tiny", width_scale=0.25, depth_scale=0.25,
      embed_dim=EMBED_DIM, use_sync_bn=use_sync_bn)


def conv_image_encoder(use_sync_bn: bool = False):
  """A two-conv tower with BatchNorm, for tests that trace many replicas.

  Tracing the EfficientNet trunk once per replica costs minutes on 2 cores;
  what those tests check lives in `AlignModel` and the loss, not the trunk.
  """
  return tf_keras.Sequential([
      tf_keras.layers.Conv2D(8, 3, strides=2, use_bias=False),
      tf_keras.layers.BatchNormalization(synchronized=use_sync_bn),
      tf_keras.layers.Activation("swish"),
      tf_keras.layers.Conv2D(16, 3, strides=2),
      tf_keras.layers.GlobalAveragePooling2D(),
      tf_keras.layers.Dense(EMBED_DIM),
  ], name="image_encoder")


def tiny_text_encoder(num_layers: int = 2):
  return text_encoder.TextEncoder(
      embed_dim=EMBED_DIM, vocab_size=VOCAB_SIZE, hidden_size=16,
      num_layers=num_layers, num_attention_heads=2, inner_dim=32,
      max_sequence_length=SEQ_LENGTH, dropout_rate=0.0,
      attention_dropout_rate=0.0)


def tiny_align_model(image_tower=None, text_tower=None, **model_kwargs):
  """A built `AlignModel` with ~0.1M parameters and no dropout."""
  model = align_model.AlignModel(
      image_encoder=image_tower or tiny_image_encoder(),
      text_encoder=text_tower or tiny_text_encoder(),
      **model_kwargs)
  model(random_batch(1))
  return model


def random_batch(batch_size: int, seed: int = 0):
  """A batch of random images in [0, 1] and random token ids."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, SEQ_LENGTH + 1, size=batch_size)
  mask = (np.arange(SEQ_LENGTH)[None, :] < lengths[:, None]).astype(np.int32)
  return {
      "image": tf.constant(
          rng.uniform(size=(batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)),
          tf.float32),
      "input_word_ids": tf.constant(
          rng.integers(5, VOCAB_SIZE, size=(batch_size, SEQ_LENGTH)) * mask,
          tf.int32),
      "input_mask": tf.constant(mask),
      "input_type_ids": tf.zeros((batch_size, SEQ_LENGTH), tf.int32),
  }
