# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""EfficientNet trunk with explicit (PyTorch-port) padding of strided convs.

Model Garden's EfficientNet uses Keras `padding='same'`: a stride-2 conv pads
`k - 2` (even input) or `k - 1` (odd input) pixels, the larger half after.
The Hugging Face EfficientNet/ALIGN port (`transformers`' `correct_pad`)
instead zero-pads explicitly and convolves with `'valid'`:

  stem (3x3, stride 2):         0 before, 1 after, always;
  stride-2 depthwise (k x k):   k//2 - 1 before, k//2 after, or k//2 on both
                                sides for the blocks listed in
                                `depthwise_padding` (HF config).

Both agree for even inputs to non-listed blocks; for odd inputs they shift the
sampling grid by one pixel, and the stem even gives a different output size
(289 px: HF 144, 'same' 145). Model Garden's backbone hard-codes 'same' inside
its stem and `InvertedBottleneckBlock.build`, so this module rebuilds the same
trunk (same block specs, scaling, `InvertedBottleneckBlock`s and variables)
with the explicit padding. Weights are interchangeable with the 'same' trunk;
only the padding differs.
"""
from typing import Sequence, Tuple

import tensorflow as tf
import tf_keras

from official.modeling import tf_utils
from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.layers import nn_blocks
from official.vision.modeling.layers import nn_layers

# ((top, bottom), (left, right)) zero padding of the HF stem.
STEM_PADDING = ((0, 1), (0, 1))


def depthwise_padding(kernel_size: int,
                      symmetric: bool) -> Tuple[Tuple[int, int], ...]:
  """HF `correct_pad`: ((top, bottom), (left, right)) of a stride-2 conv."""
  half = kernel_size // 2
  before = half if symmetric else half - 1
  return ((before, half), (before, half))


class ExplicitlyPaddedDepthwiseConv2D(tf_keras.layers.DepthwiseConv2D):
  """Zero-pads [batch, H, W, C] by `paddings`, then a 'valid' depthwise conv."""

  def __init__(self, paddings, **kwargs):
    kwargs["padding"] = "valid"
    super().__init__(**kwargs)
    self.paddings = tuple(tuple(p) for p in paddings)

  def call(self, inputs):
    return super().call(
        tf.pad(inputs, [[0, 0], list(self.paddings[0]),
                        list(self.paddings[1]), [0, 0]]))

  def get_config(self):
    return dict(super().get_config(), paddings=self.paddings)


class ExplicitlyPaddedInvertedBottleneckBlock(
    nn_blocks.InvertedBottleneckBlock):
  """Model Garden's MBConv block whose strided depthwise conv pads explicitly.

  Args:
    symmetric_padding: pad k//2 on both sides (HF `depthwise_padding` blocks)
      instead of k//2 - 1 before and k//2 after.
    **kwargs: `InvertedBottleneckBlock` arguments.
  """

  def __init__(self, symmetric_padding: bool = False, **kwargs):
    super().__init__(**kwargs)
    self._symmetric_padding = symmetric_padding

  def build(self, input_shape):
    super().build(input_shape)
    if self._strides > 1:
      # Same configuration (and variables) as the parent's depthwise conv.
      config = self._conv1.get_config()
      config.pop("padding")
      self._conv1 = ExplicitlyPaddedDepthwiseConv2D(
          depthwise_padding(self._kernel_size, self._symmetric_padding),
          **config)

  def get_config(self):
    return dict(super().get_config(),
                symmetric_padding=self._symmetric_padding)


def build_trunk(model_id: str,
                se_ratio: float,
                activation: str,
                se_inner_activation: str,
                stochastic_depth_drop_rate: float,
                use_sync_bn: bool,
                norm_momentum: float,
                norm_epsilon: float,
                symmetric_padding_blocks: Sequence[int] = (),
                name: str = "efficientnet") -> tf_keras.Model:
  """Stem and MBConv blocks of EfficientNet `model_id`, explicitly padded.

  Args:
    model_id: key of `efficientnet.SCALING_MAP`.
    se_ratio: squeeze-and-excitation ratio.
    activation: activation of the trunk.
    se_inner_activation: activation inside squeeze-and-excitation.
    stochastic_depth_drop_rate: drop-connect rate of every block (as Model
      Garden's EfficientNet: the same for all blocks).
    use_sync_bn: synchronised BatchNorm.
    norm_momentum: BatchNorm momentum.
    norm_epsilon: BatchNorm epsilon.
    symmetric_padding_blocks: 0-based indices (over all blocks) of stride-2
      blocks padded symmetrically (HF `depthwise_padding`).
    name: model name.

  Returns:
    A `tf_keras.Model` float [batch, H, W, 3] → the last block's output
    float [batch, h, w, C] (no head conv).
  """
  scaling = efficientnet.SCALING_MAP[model_id]
  norm_kwargs = dict(momentum=norm_momentum, epsilon=norm_epsilon,
                     synchronized=use_sync_bn)
  inputs = tf_keras.Input(shape=(None, None, 3))
  x = tf_keras.layers.ZeroPadding2D(STEM_PADDING, name="stem_padding")(inputs)
  x = tf_keras.layers.Conv2D(
      filters=nn_layers.round_filters(32, scaling["width_scale"]),
      kernel_size=3, strides=2, padding="valid", use_bias=False,
      kernel_initializer="VarianceScaling", name="stem_conv")(x)
  x = tf_keras.layers.BatchNormalization(name="stem_bn", **norm_kwargs)(x)
  x = tf_utils.get_activation(activation, use_keras_layer=True)(x)

  specs = efficientnet.block_spec_decoder(
      efficientnet.EN_B0_BLOCK_SPECS, scaling["width_scale"],
      scaling["depth_scale"])
  block_index = 0
  for spec in specs:
    for repeat in range(spec.block_repeats):
      x = ExplicitlyPaddedInvertedBottleneckBlock(
          symmetric_padding=block_index in symmetric_padding_blocks,
          in_filters=spec.in_filters if repeat == 0 else spec.out_filters,
          out_filters=spec.out_filters,
          expand_ratio=spec.expand_ratio,
          strides=spec.strides if repeat == 0 else 1,
          kernel_size=spec.kernel_size,
          se_ratio=se_ratio,
          stochastic_depth_drop_rate=stochastic_depth_drop_rate,
          activation=activation,
          se_inner_activation=se_inner_activation,
          use_sync_bn=use_sync_bn,
          norm_momentum=norm_momentum,
          norm_epsilon=norm_epsilon,
          name=f"block_{block_index}")(x)
      block_index += 1
  unknown = sorted(set(symmetric_padding_blocks) - set(range(block_index)))
  if unknown:
    raise ValueError(f"symmetric_padding_blocks {unknown} out of range: the "
                     f"trunk has {block_index} blocks.")
  return tf_keras.Model(inputs, x, name=name)
