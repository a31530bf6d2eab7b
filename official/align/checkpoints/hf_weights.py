# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""A Hugging Face ALIGN snapshot's tensors, into our `AlignModel`'s variables.

`load_state_dict` reads model.safetensors (the `hf` extra's safetensors) or
pytorch_model.bin (torch), sharded or not; `assign_weights` maps every
tensor to exactly one variable (torch → Keras layouts) or assigns nothing.
See `hf_align` for the conversion.
"""
import os
import re
from typing import Callable, Dict, List, Mapping, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from official.align import extras
from official.align.checkpoints import hf_config
from official.align.modeling import align_model
from official.align.modeling import image_encoder as image_encoder_lib
from official.vision.modeling.layers import nn_blocks

ConversionError = hf_config.ConversionError

# Snapshot entries that are not weights.
_SKIPPED_SUFFIXES = (".num_batches_tracked",)
_SKIPPED_KEYS = ("text_model.embeddings.position_ids",
                 "text_model.embeddings.token_type_ids")


def load_state_dict(hf_dir: str) -> Dict[str, np.ndarray]:
  """The snapshot's tensors as numpy arrays (floating ones as float32).

  Prefers model.safetensors (needs the `safetensors` package), then
  pytorch_model.bin (needs torch); sharded `*.index.json` variants too.
  """
  for name, loader in (("model.safetensors", _load_safetensors),
                       ("pytorch_model.bin", _load_torch)):
    path = os.path.join(hf_dir, name)
    index = path + ".index.json"
    if tf.io.gfile.exists(path):
      files = [path]
    elif tf.io.gfile.exists(index):
      files = [os.path.join(hf_dir, f) for f in _weight_files(hf_dir, index)]
    else:
      continue
    state = {}
    for f in files:
      state.update(loader(f))
    return {k: (v.astype(np.float32) if np.issubdtype(v.dtype, np.floating)
                else v) for k, v in state.items()}
  raise FileNotFoundError(
      f"No model.safetensors or pytorch_model.bin (or their .index.json) in "
      f"{hf_dir}.")


def _weight_files(hf_dir: str, index_path: str) -> List[str]:
  """The shard file names of a sharded snapshot's `*.index.json`.

  Raises:
    ConversionError: not a {"weight_map": {tensor: file name}} JSON, or a
      file name that is not a plain file inside `hf_dir` (a path, `..`, or a
      link leading out), naming the first offender.
  """
  try:
    weight_map = hf_config.read_json(index_path)["weight_map"]
  except (ValueError, KeyError, TypeError) as e:
    raise ConversionError(f"{index_path}: not a sharded checkpoint index "
                          f"(no readable weight_map: {e}).") from e
  if not isinstance(weight_map, dict) or not all(
      isinstance(v, str) for v in weight_map.values()):
    raise ConversionError(f"{index_path}: weight_map must map tensor names "
                          "to file names.")
  root = os.path.realpath(hf_dir)
  names = sorted(set(weight_map.values()))
  for name in names:
    inside = os.path.realpath(os.path.join(hf_dir, name))
    if (name in ("", ".", "..") or os.path.basename(name) != name
        or (os.altsep and os.altsep in name)
        or os.path.dirname(inside) != root):
      raise ConversionError(
          f"{index_path}: weight_map names {name!r}, which is not a plain "
          f"file name inside {hf_dir}; refusing to read it.")
  return names


def _load_safetensors(path: str) -> Dict[str, np.ndarray]:
  safetensors_numpy = extras.require("safetensors.numpy", "hf",
                                     f"Reading {path}")
  return safetensors_numpy.load_file(path)


def _load_torch(path: str) -> Dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f"Reading {path} needs torch (pip install torch "
                      "--index-url https://download.pytorch.org/whl/cpu), or "
                      "provide model.safetensors.") from e
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise ConversionError(
        f"{path} holds objects other than tensors, which torch refuses to "
        f"unpickle safely ({type(e).__name__}: {first_line}); nothing was "
        "run. Use model.safetensors, the safe format, instead.") from e
  if not isinstance(state, dict) or not all(
      isinstance(v, torch.Tensor) for v in state.values()):
    raise ConversionError(
        f"{path} is not a state dict of tensors. Use model.safetensors, the "
        "safe format, instead.")
  return {k: (v.float() if v.is_floating_point() else v).numpy()
          for k, v in state.items()}


# Layout changes, torch → Keras. `shape` is the variable's shape.
def _same(x, shape):
  del shape
  return x


def _linear(x, shape):
  """torch Linear [out, in] → Dense/EinsumDense kernel; bias reshaped."""
  x = x.T if x.ndim == 2 else x
  if x.size != int(np.prod(shape)):
    return x  # Reported as a shape mismatch.
  return x.reshape(shape)


def _conv(x, shape):
  del shape
  return x.transpose(2, 3, 1, 0)  # [out, in, kh, kw] → [kh, kw, in, out].


def _depthwise(x, shape):
  del shape
  return x.transpose(2, 3, 0, 1)  # [C, 1, kh, kw] → [kh, kw, C, 1].


Assignment = Tuple[tf.Variable, str, Callable]

_TEXT_RULES = (
    (r"bert/word_embeddings/embeddings",
     "text_model.embeddings.word_embeddings.weight", _same),
    (r"bert/position_embedding/embeddings",
     "text_model.embeddings.position_embeddings.weight", _same),
    (r"bert/type_embeddings/embeddings",
     "text_model.embeddings.token_type_embeddings.weight", _same),
    (r"bert/embeddings/layer_norm/(\w+)",
     "text_model.embeddings.LayerNorm.{0}", _same),
    (r"bert/transformer/layer_(\d+)/self_attention/(query|key|value)/(\w+)",
     "text_model.encoder.layer.{0}.attention.self.{1}.{2}", _linear),
    (r"bert/transformer/layer_(\d+)/self_attention/attention_output/(\w+)",
     "text_model.encoder.layer.{0}.attention.output.dense.{1}", _linear),
    (r"bert/transformer/layer_(\d+)/self_attention_layer_norm/(\w+)",
     "text_model.encoder.layer.{0}.attention.output.LayerNorm.{1}", _same),
    (r"bert/transformer/layer_(\d+)/intermediate/(\w+)",
     "text_model.encoder.layer.{0}.intermediate.dense.{1}", _linear),
    (r"bert/transformer/layer_(\d+)/output/(\w+)",
     "text_model.encoder.layer.{0}.output.dense.{1}", _linear),
    (r"bert/transformer/layer_(\d+)/output_layer_norm/(\w+)",
     "text_model.encoder.layer.{0}.output.LayerNorm.{1}", _same),
    (r"bert/pooler_transform/(\w+)", "text_model.pooler.dense.{0}", _linear),
    (r"projection/(\w+)", "text_projection.{0}", _linear),
)
_TORCH_PARAM = {"kernel": "weight", "bias": "bias", "gamma": "weight",
                "beta": "bias"}


def _text_assignments(text_encoder: tf_keras.Model) -> List[Assignment]:
  """BERT tower variables by (Model Garden) name → HF keys."""
  assignments = []
  for variable in text_encoder.variables:
    match = re.search(rf"(?:^|/){re.escape(text_encoder.name)}/(.+):\d+$",
                      variable.name)
    if not match:
      continue
    for pattern, key, transform in _TEXT_RULES:
      rule = re.fullmatch(pattern, match.group(1))
      if rule:
        parts = [_TORCH_PARAM.get(p, p) for p in rule.groups()]
        assignments.append((variable, key.format(*parts), transform))
        break
  return assignments


def _batch_norm(layer, prefix: str) -> List[Assignment]:
  return [(layer.gamma, prefix + ".weight", _same),
          (layer.beta, prefix + ".bias", _same),
          (layer.moving_mean, prefix + ".running_mean", _same),
          (layer.moving_variance, prefix + ".running_var", _same)]


def _image_assignments(image_encoder: tf_keras.Model) -> List[Assignment]:
  """EfficientNet trunk variables, layer by layer → HF keys.

  Reads the sublayers of Model Garden's `InvertedBottleneckBlock` (private
  attributes `_conv0`, `_norm0`, ...), the same in both padding modes.
  """
  # pylint: disable=protected-access
  layers = image_encoder.trunk.layers
  stem_conv = next(l for l in layers
                   if isinstance(l, tf_keras.layers.Conv2D))
  stem_bn = next(l for l in layers
                 if isinstance(l, tf_keras.layers.BatchNormalization))
  assignments = [(stem_conv.kernel,
                  "vision_model.embeddings.convolution.weight", _conv)]
  assignments += _batch_norm(stem_bn, "vision_model.embeddings.batchnorm")
  blocks = [l for l in layers
            if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  for i, block in enumerate(blocks):
    p = f"vision_model.encoder.blocks.{i}."
    if block._expand_ratio > 1:  # Model Garden builds no expansion at 1.
      assignments.append((block._conv0.kernel,
                          p + "expansion.expand_conv.weight", _conv))
      assignments += _batch_norm(block._norm0, p + "expansion.expand_bn")
    assignments.append((block._conv1.depthwise_kernel,
                        p + "depthwise_conv.depthwise_conv.weight",
                        _depthwise))
    assignments += _batch_norm(block._norm1,
                               p + "depthwise_conv.depthwise_norm")
    se = block._squeeze_excitation
    if se is not None:
      for conv, name in ((se._se_reduce, "reduce"), (se._se_expand, "expand")):
        assignments.append((conv.kernel, f"{p}squeeze_excite.{name}.weight",
                            _conv))
        assignments.append((conv.bias, f"{p}squeeze_excite.{name}.bias",
                            _same))
    assignments.append((block._conv2.kernel,
                        p + "projection.project_conv.weight", _conv))
    assignments += _batch_norm(block._norm2, p + "projection.project_bn")
  return assignments
  # pylint: enable=protected-access


def assign_weights(model: align_model.AlignModel,
                   state_dict: Mapping[str, np.ndarray],
                   source: str = "the snapshot") -> int:
  """Copies every tensor of `state_dict` into `model`, or nothing.

  Args:
    model: a built `AlignModel` with `ImageEncoder` / `TextEncoder` towers.
    state_dict: HF `AlignModel.state_dict()` as numpy arrays.
    source: name of the snapshot, for error messages.

  Returns:
    The number of variables assigned (all of `model.variables` but metric
    accumulators).

  Raises:
    ConversionError: listing HF tensors without a variable, variables
      without an HF tensor, and shape mismatches. No variable is changed
      then.
  """
  if not isinstance(model.image_encoder, image_encoder_lib.ImageEncoder):
    raise ConversionError("The image tower is not an ImageEncoder.")
  assignments = (_image_assignments(model.image_encoder) +
                 _text_assignments(model.text_encoder) +
                 [(model.temperature, "temperature", _same)])
  values, missing, mismatched, used = [], [], [], set()
  for variable, key, transform in assignments:
    if key not in state_dict:
      missing.append(f"{variable.name} {variable.shape} (expected {key})")
      continue
    used.add(key)
    value = transform(np.asarray(state_dict[key]), tuple(variable.shape))
    if tuple(value.shape) != tuple(variable.shape):
      mismatched.append(f"{key} {tuple(state_dict[key].shape)} → "
                        f"{variable.name} {variable.shape}")
      continue
    values.append((variable, value))
  # Metric accumulators (the loss tracker) are state, not weights.
  assigned = {v.ref() for v, _, _ in assignments}
  assigned |= {v.ref() for metric in model.metrics for v in metric.variables}
  missing += [f"{v.name} {v.shape} (no HF counterpart)"
              for v in model.variables if v.ref() not in assigned]
  unmapped = [f"{k} {tuple(np.shape(v))}"
              for k, v in sorted(state_dict.items())
              if k not in used and k not in _SKIPPED_KEYS and
              not k.endswith(_SKIPPED_SUFFIXES)]
  problems = []
  for title, items in (("tensors of the snapshot with no model variable",
                        unmapped),
                       ("model variables left without a tensor", missing),
                       ("shape mismatches", mismatched)):
    if items:
      problems.append(f"{len(items)} {title}:\n    " + "\n    ".join(items))
  if problems:
    raise ConversionError(
        f"Cannot convert {source}; nothing was written.\n  " +
        "\n  ".join(problems))
  for variable, value in values:
    variable.assign(value.astype(variable.dtype.as_numpy_dtype))
  return len(values)
