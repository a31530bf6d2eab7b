# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN's image tower: an EfficientNet trunk, pooled, optionally projected."""
from typing import Optional, Sequence

import gin
import tensorflow as tf
import tf_keras

from official.align.modeling import padded_efficientnet
from official.vision.modeling.backbones import efficientnet

# EfficientNet-L2 (Xie et al. 2020, "Self-training with Noisy Student"), the
# paper's main image tower; Model Garden's scaling table stops at B7.
EFFICIENTNET_L2_SCALING = dict(width_scale=4.3, depth_scale=5.3)

# "same": Model Garden's EfficientNet (Keras 'same' padding); "explicit": the
# PyTorch port's zero padding of strided convs (`padded_efficientnet`).
PADDING_MODES = ("same", "explicit")


def efficientnet_model_id(model_id: str,
                          width_scale: Optional[float] = None,
                          depth_scale: Optional[float] = None) -> str:
  """Returns a key of Model Garden's EfficientNet scaling table.

  `b0`-`b7` are Model Garden's own; `l2` and explicit width/depth scales (used
  by the tiny test configs) are added to the table under their own key, as the
  backbone looks its scaling up by `model_id`.

  Args:
    model_id: "b0".."b7", "l2", or a free name when both scales are given.
    width_scale: channel multiplier; overrides the table when given.
    depth_scale: block-repeat multiplier; overrides the table when given.
  """
  if (width_scale is None) != (depth_scale is None):
    raise ValueError("Give both width_scale and depth_scale, or neither.")
  if width_scale is not None:
    key = f"{model_id}_w{width_scale:g}_d{depth_scale:g}"
    scaling = dict(width_scale=width_scale, depth_scale=depth_scale)
  elif model_id == "l2":
    key, scaling = "l2", EFFICIENTNET_L2_SCALING
  elif model_id in efficientnet.SCALING_MAP:
    return model_id
  else:
    raise ValueError(
        f"Unknown EfficientNet model_id {model_id!r}; expected one of "
        f"{sorted(efficientnet.SCALING_MAP)} or 'l2', or explicit scales.")
  efficientnet.SCALING_MAP.setdefault(key, scaling)
  return key


@gin.configurable
class ImageEncoder(tf_keras.Model):
  """EfficientNet → global average pool of the last MBConv block → projection.

  The 1x1 head convolution and classifier of EfficientNet are not built into
  the trunk: ALIGN pools the last block's output (B7: 640 channels, L2: 1376).

  Call: float [batch, height, width, 3] pixels (range set by the input
  pipeline) → float [batch, embed_dim], not normalised.
  """

  def __init__(self,
               model_id: str = "b7",
               embed_dim: Optional[int] = None,
               width_scale: Optional[float] = None,
               depth_scale: Optional[float] = None,
               se_ratio: float = 0.25,
               activation: str = "swish",
               stochastic_depth_drop_rate: float = 0.0,
               use_sync_bn: bool = False,
               norm_momentum: float = 0.99,
               norm_epsilon: float = 1e-3,
               se_inner_activation: str = "relu",
               padding: str = "same",
               symmetric_padding_blocks: Sequence[int] = (),
               name: str = "image_encoder",
               **kwargs):
    """Builds the tower.

    Args:
      model_id: EfficientNet variant, "b0".."b7" or "l2".
      embed_dim: output size. None keeps the last block's width (no
        projection); another value adds a linear projection to it.
      width_scale: explicit channel multiplier (with `depth_scale`).
      depth_scale: explicit depth multiplier (with `width_scale`).
      se_ratio: squeeze-and-excitation ratio of the MBConv blocks.
      activation: activation of the trunk.
      stochastic_depth_drop_rate: drop-connect rate of the MBConv blocks.
      use_sync_bn: batch statistics over all replicas instead of per replica.
      norm_momentum: BatchNorm moving-average momentum.
      norm_epsilon: BatchNorm epsilon.
      se_inner_activation: activation inside squeeze-and-excitation (Model
        Garden's default "relu"; the original EfficientNet and the Hugging
        Face port use "swish").
      padding: "same" (Model Garden's EfficientNet) or "explicit" (zero
        padding of strided convs as in the Hugging Face port, which differs
        from "same" for odd feature-map sizes, e.g. at 289 px; see
        `padded_efficientnet`). Same variables either way.
      symmetric_padding_blocks: with "explicit", the block indices padded
        symmetrically (the HF config's `depthwise_padding`).
      name: layer name.
      **kwargs: forwarded to `tf_keras.Model`.
    """
    super().__init__(name=name, **kwargs)
    if padding not in PADDING_MODES:
      raise ValueError(f"padding must be one of {PADDING_MODES}, got "
                       f"{padding!r}")
    if symmetric_padding_blocks and padding != "explicit":
      raise ValueError("symmetric_padding_blocks needs padding='explicit'.")
    trunk_kwargs = dict(
        se_ratio=se_ratio,
        activation=activation,
        se_inner_activation=se_inner_activation,
        stochastic_depth_drop_rate=stochastic_depth_drop_rate,
        use_sync_bn=use_sync_bn,
        norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon)
    backbone_id = efficientnet_model_id(model_id, width_scale, depth_scale)
    if padding == "explicit":
      self.trunk = padded_efficientnet.build_trunk(
          backbone_id, symmetric_padding_blocks=tuple(symmetric_padding_blocks),
          **trunk_kwargs)
    else:
      backbone = efficientnet.EfficientNet(model_id=backbone_id,
                                           **trunk_kwargs)
      # Endpoints are "2".."5" for the output blocks and one more for the
      # head conv; keep the trunk up to the last MBConv block only.
      last_block = str(max(int(k) for k in backbone.output_specs))
      self.trunk = tf_keras.Model(
          inputs=backbone.inputs, outputs=backbone.output[last_block],
          name="efficientnet")
    self.feature_dim = int(self.trunk.output.shape[-1])
    self.embed_dim = embed_dim or self.feature_dim
    self.pool = tf_keras.layers.GlobalAveragePooling2D(name="pool")
    self.projection = (
        tf_keras.layers.Dense(self.embed_dim, name="projection")
        if self.embed_dim != self.feature_dim else None)
    self._config = dict(
        model_id=model_id, embed_dim=embed_dim, width_scale=width_scale,
        depth_scale=depth_scale, se_ratio=se_ratio, activation=activation,
        stochastic_depth_drop_rate=stochastic_depth_drop_rate,
        use_sync_bn=use_sync_bn, norm_momentum=norm_momentum,
        norm_epsilon=norm_epsilon, se_inner_activation=se_inner_activation,
        padding=padding,
        symmetric_padding_blocks=tuple(symmetric_padding_blocks))

  def call(self, images: tf.Tensor, training=None) -> tf.Tensor:
    features = self.pool(self.trunk(images, training=training))
    if self.projection is not None:
      features = self.projection(features)
    return features

  def get_config(self):
    return dict(self._config, name=self.name)
