# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The exported image encoder: pixels or encoded bytes → unit embeddings.

`build_image_module` wraps a trained image tower into a functional
`tf_keras.Model` images → embeddings whose first layer does the evaluation
geometry (`preprocess_images`), so any image size is accepted. `export_lib` saves it
through `layers.reusable_saved_model` as a TF2 SavedModel that
`hub.KerasLayer` can load (also with `trainable=True`: `__call__(training=)`
and the trainable variables are exported).
"""
from typing import Dict

import gin
import tensorflow as tf
import tf_keras

from official.align.dataloaders import image_headers
from official.align.dataloaders import image_preprocessing
from official.align.serving import layers


def preprocess_images(images: tf.Tensor, resize_size: int, crop_size: int,
                      pixel_range: str) -> tf.Tensor:
  """Evaluation geometry on a batch of decoded images.

  Resizes the shorter side to `resize_size` and takes the central
  `crop_size` square, done as the data pipeline does it: crop the matching
  central window of the input, then resize it (bilinear) to `crop_size`.

  Args:
    images: float32 [batch, height, width, 3] in [0, 1]; any height and width
      (>= 1).
    resize_size: shorter side after the (virtual) resize, pixels.
    crop_size: output side, pixels.
    pixel_range: "unit" ([0, 1], unchanged) or "symmetric" ([-1, 1]).

  Returns:
    float32 [batch, crop_size, crop_size, 3] in `pixel_range`.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  shape = tf.shape(images)
  y, x, h, w = image_preprocessing.crop_window(
      shape[1], shape[2], resize_size, crop_size, random=False, seed=None)
  window = images[:, y:y + h, x:x + w, :]
  images = tf.image.resize(window, [crop_size, crop_size],
                           method=tf.image.ResizeMethod.BILINEAR)
  # `to_pixel_range` maps [0, 255]; the inputs here are already in [0, 1].
  return image_preprocessing.to_pixel_range(images * 255.0, pixel_range)


class EvalPreprocessing(tf_keras.layers.Layer):
  """Keras layer running `preprocess_images` (no variables)."""

  def __init__(self, resize_size: int, crop_size: int, pixel_range: str,
               **kwargs):
    super().__init__(**kwargs)
    if pixel_range not in image_preprocessing.PIXEL_RANGES:
      raise ValueError(f"pixel_range must be one of "
                       f"{image_preprocessing.PIXEL_RANGES}, got "
                       f"{pixel_range!r}")
    self.resize_size = resize_size
    self.crop_size = crop_size
    self.pixel_range = pixel_range

  def call(self, images: tf.Tensor) -> tf.Tensor:
    return preprocess_images(images, self.resize_size, self.crop_size,
                             self.pixel_range)

  def get_config(self):
    return dict(super().get_config(), resize_size=self.resize_size,
                crop_size=self.crop_size, pixel_range=self.pixel_range)


@gin.configurable(denylist=["image_encoder", "temperature"])
def build_image_module(image_encoder: tf_keras.Model,
                       temperature: tf.Variable,
                       resize_size: int,
                       crop_size: int,
                       pixel_range: str,
                       logit_bias=0.0,
                       max_pixels: int = (
                           image_headers.DEFAULT_MAX_PIXELS)):
  """The image encoder to export, and its signatures.

  Args:
    image_encoder: the trained image tower (shares its variables).
    temperature: the trained `AlignModel.temperature`.
    resize_size: evaluation resize of the shorter side, pixels.
    crop_size: evaluation central crop (the tower's input size), pixels.
    pixel_range: "unit" or "symmetric", the tower's input range.
    logit_bias: the trained `AlignModel.logit_bias` (sigmoid loss), or 0.
    max_pixels: the `image_bytes` signature refuses, before decoding, an
      image whose header declares more pixels (times GIF frames): one
      `InvalidArgumentError` starting "image_too_large:" for the call.

  Returns:
    (module, signatures): `module` maps float32 [batch, height, width, 3] in
    [0, 1] to float32 [batch, embed_dim] with unit L2 norm, and has
    `temperature`, `logit_bias` and `logit_scale()`; `signatures` is the
    dict for `tf.saved_model.save`: `serving_default` (`images` → `embeddings`),
    `image_bytes` (string [batch] `image_bytes` of JPEG/PNG/GIF/BMP/WebP →
    `embeddings`; images above `max_pixels` refused) and `logit_scale`
    (→ `logit_scale`, `logit_bias`).
  """
  images = tf_keras.Input([None, None, 3], dtype=tf.float32, name="images")
  x = EvalPreprocessing(resize_size, crop_size, pixel_range,
                        name="eval_preprocessing")(images)
  embeddings = layers.L2Normalize(name="embeddings")(image_encoder(x))
  module = tf_keras.Model(images, embeddings, name="image_encoder")

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
  def serve_images(images: tf.Tensor) -> Dict[str, tf.Tensor]:
    return {"embeddings": module(images, training=False)}

  def decode(image_bytes):
    image = image_preprocessing.preprocess_image(
        image_bytes, is_training=False, resize_size=resize_size,
        crop_size=crop_size, pixel_range=pixel_range, max_pixels=max_pixels)
    image.set_shape([crop_size, crop_size, 3])
    return image

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="image_bytes")])
  def serve_image_bytes(image_bytes: tf.Tensor) -> Dict[str, tf.Tensor]:
    pixels = tf.map_fn(
        decode, image_bytes,
        fn_output_signature=tf.TensorSpec([crop_size, crop_size, 3],
                                          tf.float32))
    return {"embeddings": module.get_layer("embeddings")(
        image_encoder(pixels, training=False))}

  logit_scale = layers.attach_temperature(module, temperature, logit_bias)
  signatures = {
      "serving_default": serve_images.get_concrete_function(),
      "image_bytes": serve_image_bytes.get_concrete_function(),
      "logit_scale": logit_scale,
  }
  return module, signatures
