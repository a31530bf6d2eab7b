# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Hugging Face `AlignModel` snapshot → a model_dir of our `AlignModel`.

`convert(hf_dir, model_dir)` reads a local snapshot of a `transformers`
ALIGN checkpoint (e.g. `kakaobrain/align-base`, EfficientNet-B7 + BERT-base
trained on COYO-700M):

  config.json                  architecture (missing keys take transformers'
                               defaults, as `from_pretrained` does);
  model.safetensors            weights (or `pytorch_model.bin`, which needs
                               torch; sharded `*.index.json` variants too);
  vocab.txt / tokenizer.json   the WordPiece vocabulary;
  tokenizer_config.json        `do_lower_case` (default True);
  preprocessor_config.json     image size, crop and pixel scaling (optional).

and writes what `train_lib.train` would have written:

  model_dir/operative_config.gin     architecture + preprocessing as gin;
  model_dir/vocab.txt                the vocabulary (`TrainConfig.vocab_file`);
  model_dir/checkpoints/ckpt-0*      `tf.train.Checkpoint(model=...)` with
                                     every variable, BatchNorm moving
                                     statistics and the temperature included.

so `export/export_tfhub.py --model_dir=...` exports it and `train.py
--gin_file=model_dir/operative_config.gin --model_dir=...` fine-tunes it
(the optimizer starts fresh at step 0).

Architecture mapping (checked against transformers' `modeling_align.py`):
EfficientNet with the B0 block table scaled by `width_coefficient` /
`depth_coefficient` (same channel and repeat rounding as Model Garden), swish
everywhere including inside squeeze-and-excitation (reduce width
`int(block_input * ratio)`), BatchNorm epsilon from the config, no head conv,
image embedding = mean of the last block's output (no projection); HF pads
strided convs explicitly, reproduced by `ImageEncoder.padding='explicit'`.
Text: BERT (exact GELU, LayerNorm epsilon 1e-12, learned absolute positions
and token types), embedding = `text_projection(last_hidden_state[:, 0])`.
Logits = cosine / `temperature` in both. HF's drop-connect is an inference
no-op; for fine-tuning the config sets `stochastic_depth_drop_rate = 0`.

Every tensor of the snapshot must land in exactly one variable and every
variable must receive a tensor (only `num_batches_tracked` counters and the
text position/type-id index buffers are skipped); otherwise
`ConversionError` names each offending tensor and variable and nothing is
written.

A snapshot is data from someone else: the `weight_map` of a sharded
`*.index.json` may only name plain files inside `hf_dir`; `pytorch_model.bin`
is read with `torch.load(weights_only=True)` and one holding other objects
than tensors is refused (model.safetensors is the safe format); a text
projection whose size differs from the image embedding size is refused. The
output is published with `atomic_publish.replace_dir` and may not be or
contain `hf_dir`.
"""
import dataclasses
import json
import os
import re
from typing import Callable, Dict, List, Mapping, Tuple

import gin
import numpy as np
import tensorflow as tf
import tf_keras

from official.align import atomic_publish
from official.align.modeling import align_model
from official.align.modeling import image_encoder as image_encoder_lib
from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.layers import nn_blocks
from official.vision.modeling.layers import nn_layers

OPERATIVE_CONFIG = "operative_config.gin"
CHECKPOINT_SUBDIR = "checkpoints"  # As `train_lib.CHECKPOINT_SUBDIR`.
VOCAB_FILE = "vocab.txt"

# transformers' defaults (AlignVisionConfig / AlignTextConfig / AlignConfig,
# i.e. kakaobrain/align-base), for keys a config.json leaves out.
HF_VISION_DEFAULTS = dict(
    num_channels=3, image_size=600, width_coefficient=2.0,
    depth_coefficient=3.1, depth_divisor=8,
    kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
    in_channels=[32, 16, 24, 40, 80, 112, 192],
    out_channels=[16, 24, 40, 80, 112, 192, 320], depthwise_padding=[],
    strides=[1, 2, 2, 2, 1, 2, 1], num_block_repeats=[1, 2, 2, 3, 3, 4, 1],
    expand_ratios=[1, 6, 6, 6, 6, 6, 6], squeeze_expansion_ratio=0.25,
    hidden_act="swish", pooling_type="mean", batch_norm_eps=1e-3,
    batch_norm_momentum=0.99, drop_connect_rate=0.2)
HF_TEXT_DEFAULTS = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12,
    num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
    hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
    position_embedding_type="absolute")
HF_ALIGN_DEFAULTS = dict(projection_dim=640, temperature_init_value=1.0)

# Snapshot entries that are not weights.
_SKIPPED_SUFFIXES = (".num_batches_tracked",)
_SKIPPED_KEYS = ("text_model.embeddings.position_ids",
                 "text_model.embeddings.token_type_ids")


class ConversionError(ValueError):
  """The snapshot does not fit the model; the message lists every problem."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Evaluation preprocessing of the checkpoint (`InputReader` settings).

  Attributes:
    seq_length: tokens per text, [CLS] and [SEP] included.
    lower_case: lower-case and strip accents before WordPiece.
    image_size: central crop side = tower input, pixels.
    resize_size: shorter side after resizing, pixels.
    pixel_range: "unit" ([0, 1]) or "symmetric" ([-1, 1]).
  """
  seq_length: int
  lower_case: bool
  image_size: int
  resize_size: int
  pixel_range: str


def _read_json(path: str) -> dict:
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def read_config(hf_dir: str) -> Dict[str, dict]:
  """config.json with transformers' defaults filled in.

  Returns:
    dict with `vision`, `text` and `align` (top-level) settings.
  """
  path = os.path.join(hf_dir, "config.json")
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"No config.json in {hf_dir}.")
  config = _read_json(path)
  if config.get("model_type") != "align":
    raise ConversionError(
        f"{path}: model_type {config.get('model_type')!r} is not 'align'.")
  return dict(
      vision=dict(HF_VISION_DEFAULTS, **(config.get("vision_config") or {})),
      text=dict(HF_TEXT_DEFAULTS, **(config.get("text_config") or {})),
      align={k: config.get(k, v) for k, v in HF_ALIGN_DEFAULTS.items()})


def check_architecture(config: Mapping[str, dict]) -> None:
  """Raises `ConversionError` listing every setting our model cannot mirror."""
  vision, text = config["vision"], config["text"]
  problems = []
  b0 = list(zip(*[s[1:7] for s in efficientnet.EN_B0_BLOCK_SPECS]))
  for key, expected in zip(
      ("num_block_repeats", "kernel_sizes", "strides", "expand_ratios",
       "in_channels", "out_channels"), b0):
    if list(vision[key]) != list(expected):
      problems.append(f"vision_config.{key}={vision[key]} (the EfficientNet "
                      f"block table needs {list(expected)})")
  for key, allowed in (("depth_divisor", (8,)), ("num_channels", (3,)),
                       ("pooling_type", ("mean",)),
                       ("hidden_act", ("swish", "silu"))):
    if vision[key] not in allowed:
      problems.append(f"vision_config.{key}={vision[key]!r} (supported: "
                      f"{allowed})")
  for key, allowed in (("hidden_act", ("gelu",)),
                       ("position_embedding_type", ("absolute",))):
    if text[key] not in allowed:
      problems.append(f"text_config.{key}={text[key]!r} (supported: "
                      f"{allowed})")
  width = float(vision["width_coefficient"])
  for stage, (stride, in_filters, out_filters) in enumerate(zip(
      vision["strides"], vision["in_channels"], vision["out_channels"])):
    # HF adds the residual only to repeats (j > 0); Model Garden's block to
    # any stride-1 block whose input and output widths agree.
    if stride == 1 and (nn_layers.round_filters(in_filters, width) ==
                        nn_layers.round_filters(out_filters, width)):
      problems.append(
          f"width_coefficient={width:g} makes stage {stage}'s first block "
          "keep its width at stride 1: HF gives it no residual connection, "
          "Model Garden's MBConv does")
  image_embed_dim = nn_layers.round_filters(vision["out_channels"][-1], width)
  text_embed_dim = int(config["align"]["projection_dim"])
  if text_embed_dim != image_embed_dim:
    problems.append(
        f"projection_dim={text_embed_dim} (the text embedding size) differs "
        f"from the image embedding size {image_embed_dim} (the last block's "
        f"{vision['out_channels'][-1]} channels at width_coefficient="
        f"{width:g}): image and text embeddings could not be compared")
  if not np.isclose(text["layer_norm_eps"], 1e-12):
    problems.append(f"text_config.layer_norm_eps={text['layer_norm_eps']} "
                    "(BertEncoderV2 uses 1e-12)")
  if problems:
    raise ConversionError("Unsupported ALIGN configuration:\n  " +
                          "\n  ".join(problems))


def _vocab_tokens(hf_dir: str) -> List[str]:
  """WordPiece tokens by id, from vocab.txt or tokenizer.json."""
  vocab_txt = os.path.join(hf_dir, VOCAB_FILE)
  if tf.io.gfile.exists(vocab_txt):
    with tf.io.gfile.GFile(vocab_txt) as f:
      return [line.rstrip("\n") for line in f]
  tokenizer_json = os.path.join(hf_dir, "tokenizer.json")
  if tf.io.gfile.exists(tokenizer_json):
    model = _read_json(tokenizer_json).get("model", {})
    if model.get("type") != "WordPiece":
      raise ConversionError(f"{tokenizer_json} is not a WordPiece tokenizer.")
    by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
      raise ConversionError(f"{tokenizer_json}: vocabulary ids have gaps.")
    return [token for token, _ in by_id]
  raise FileNotFoundError(f"No vocab.txt or tokenizer.json in {hf_dir}.")


def read_preprocessing(hf_dir: str, config: Mapping[str, dict],
                       seq_length: int = 64) -> Preprocessing:
  """Text and image preprocessing of the snapshot.

  Without preprocessor_config.json: the tower's `image_size`, no extra
  resize margin, pixels in [-1, 1] (align-base's processor).

  Args:
    hf_dir: the snapshot directory.
    config: `read_config(hf_dir)`.
    seq_length: tokens per text (`AlignProcessor` pads/truncates to 64).
  """
  tokenizer_config = os.path.join(hf_dir, "tokenizer_config.json")
  lower_case = True
  if tf.io.gfile.exists(tokenizer_config):
    lower_case = bool(_read_json(tokenizer_config).get("do_lower_case", True))
  image_size = resize_size = int(config["vision"]["image_size"])
  pixel_range = "symmetric"
  processor_config = os.path.join(hf_dir, "preprocessor_config.json")
  if tf.io.gfile.exists(processor_config):
    processor = _read_json(processor_config)
    size = processor.get("size", {"height": 346})
    resize_size = int(size.get("height", size.get("shortest_edge", 346)))
    image_size = resize_size
    if processor.get("do_center_crop", False):
      image_size = int(processor.get("crop_size", {"height": 289})["height"])
    pixel_range = _pixel_range(processor, processor_config)
  return Preprocessing(seq_length=seq_length, lower_case=lower_case,
                       image_size=image_size, resize_size=resize_size,
                       pixel_range=pixel_range)


def _pixel_range(processor: dict, path: str) -> str:
  """"unit" or "symmetric" from an EfficientNet image processor config."""
  scale = float(processor.get("rescale_factor", 1 / 255)) * 255
  offset = bool(processor.get("rescale_offset", False))
  normalize = bool(processor.get("do_normalize", True))
  mean = np.asarray(processor.get("image_mean", [0.5] * 3), np.float64)
  std = np.asarray(processor.get("image_std", [0.5] * 3), np.float64)
  if np.isclose(scale, 2.0) and offset and not normalize:
    return "symmetric"
  if np.isclose(scale, 1.0) and not offset:
    if not normalize:
      return "unit"
    if np.allclose(mean, 0.5) and np.allclose(std, 0.5):
      return "symmetric"
  raise ConversionError(
      f"{path}: pixel scaling (rescale_factor={scale / 255:g}, "
      f"rescale_offset={offset}, do_normalize={normalize}, mean={mean}, "
      f"std={std}) is neither [0, 1] nor [-1, 1].")


def operative_config(config: Mapping[str, dict], preprocessing: Preprocessing,
                     vocab_file: str, source: str = "") -> str:
  """The gin config of the converted model (architecture + preprocessing)."""
  vision, text, align = config["vision"], config["text"], config["align"]
  scales = (float(vision["width_coefficient"]),
            float(vision["depth_coefficient"]))
  b7 = efficientnet.SCALING_MAP["b7"]
  if scales == (b7["width_scale"], b7["depth_scale"]):
    trunk = ["ImageEncoder.model_id = 'b7'"]
  else:
    trunk = ["ImageEncoder.model_id = 'hf'",
             f"ImageEncoder.width_scale = {scales[0]!r}",
             f"ImageEncoder.depth_scale = {scales[1]!r}"]
  lines = [
      f"# Converted from the Hugging Face ALIGN snapshot {source}",
      "# by export/convert_hf_checkpoint.py: architecture and evaluation",
      "# preprocessing of that checkpoint.",
      "",
      "import official.align.modeling.align_model",
      "import official.align.optimization",
      "import official.align.train_lib",
      "",
      f"build_align_model.image_size = {preprocessing.image_size}",
      f"build_align_model.seq_length = {preprocessing.seq_length}",
      "",
      *trunk,
      "ImageEncoder.embed_dim = None",
      f"ImageEncoder.se_ratio = {float(vision['squeeze_expansion_ratio'])!r}",
      "ImageEncoder.activation = 'swish'",
      "ImageEncoder.se_inner_activation = 'swish'",
      f"ImageEncoder.norm_epsilon = {float(vision['batch_norm_eps'])!r}",
      f"ImageEncoder.norm_momentum = {float(vision['batch_norm_momentum'])!r}",
      "ImageEncoder.padding = 'explicit'",
      "ImageEncoder.symmetric_padding_blocks = "
      f"{[int(i) for i in vision['depthwise_padding']]}",
      "ImageEncoder.stochastic_depth_drop_rate = 0.0",
      "",
      f"TextEncoder.embed_dim = {int(align['projection_dim'])}",
      f"TextEncoder.vocab_size = {int(text['vocab_size'])}",
      f"TextEncoder.hidden_size = {int(text['hidden_size'])}",
      f"TextEncoder.num_layers = {int(text['num_hidden_layers'])}",
      "TextEncoder.num_attention_heads = "
      f"{int(text['num_attention_heads'])}",
      f"TextEncoder.inner_dim = {int(text['intermediate_size'])}",
      "TextEncoder.inner_activation = 'gelu'",
      "TextEncoder.max_sequence_length = "
      f"{int(text['max_position_embeddings'])}",
      f"TextEncoder.type_vocab_size = {int(text['type_vocab_size'])}",
      f"TextEncoder.dropout_rate = {float(text['hidden_dropout_prob'])!r}",
      "TextEncoder.attention_dropout_rate = "
      f"{float(text['attention_probs_dropout_prob'])!r}",
      "",
      "AlignModel.temperature_init = "
      f"{float(align['temperature_init_value'])!r}",
      "",
      f"InputReader.seq_length = {preprocessing.seq_length}",
      f"InputReader.lower_case = {preprocessing.lower_case}",
      f"InputReader.image_size = {preprocessing.image_size}",
      f"InputReader.resize_size = {preprocessing.resize_size}",
      f"InputReader.pixel_range = {preprocessing.pixel_range!r}",
      f"TrainConfig.vocab_file = {vocab_file!r}",
  ]
  return "\n".join(lines) + "\n"


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
    weight_map = _read_json(index_path)["weight_map"]
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
  from safetensors import numpy as safetensors_numpy  # pylint: disable=g-import-not-at-top
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


def build_model(config_text: str) -> align_model.AlignModel:
  """Replaces the global gin config by `config_text`; builds the model."""
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config(config_text)
  return align_model.build_align_model()


def convert(hf_dir: str,
            model_dir: str,
            seq_length: int = 64,
            overwrite: bool = False) -> str:
  """Converts the snapshot in `hf_dir` into a model_dir (see module doc).

  The global gin config is replaced by the converted model's.

  Args:
    hf_dir: local directory of the transformers snapshot.
    model_dir: output; must not exist (or be empty) unless `overwrite`.
    seq_length: tokens per text of the preprocessing.
    overwrite: replace an existing `model_dir`.

  Returns:
    The checkpoint prefix written (`model_dir/checkpoints/ckpt-0`).

  Raises:
    ConversionError: the snapshot does not fit (every problem listed).
    FileNotFoundError: a required file is missing from `hf_dir`.
    FileExistsError: `model_dir` is not empty and not `overwrite`.
    ValueError: `model_dir` is or contains `hf_dir` (even with `overwrite`).
  """
  model_dir = os.path.abspath(model_dir.rstrip("/"))
  atomic_publish.check_not_an_input(model_dir, [("--hf_dir", hf_dir)],
                                    "--model_dir")
  if (tf.io.gfile.exists(model_dir) and tf.io.gfile.listdir(model_dir) and
      not overwrite):
    raise FileExistsError(f"{model_dir} is not empty; pass --overwrite to "
                          "replace it.")
  config = read_config(hf_dir)
  check_architecture(config)
  preprocessing = read_preprocessing(hf_dir, config, seq_length)
  vocab = _vocab_tokens(hf_dir)
  if len(vocab) > int(config["text"]["vocab_size"]):
    raise ConversionError(
        f"The vocabulary has {len(vocab)} tokens but the text tower only "
        f"{config['text']['vocab_size']} embeddings.")
  if seq_length > int(config["text"]["max_position_embeddings"]):
    raise ConversionError(
        f"seq_length {seq_length} exceeds the text tower's "
        f"{config['text']['max_position_embeddings']} positions.")
  state_dict = load_state_dict(hf_dir)
  config_text = operative_config(
      config, preprocessing, os.path.join(model_dir, VOCAB_FILE),
      source=hf_dir)
  model = build_model(config_text)
  assign_weights(model, state_dict, source=hf_dir)

  tmp_dir = atomic_publish.staging_path(model_dir)
  try:
    tf.io.gfile.makedirs(tmp_dir)
    with tf.io.gfile.GFile(os.path.join(tmp_dir, VOCAB_FILE), "w") as f:
      f.write("\n".join(vocab) + "\n")
    with tf.io.gfile.GFile(os.path.join(tmp_dir, OPERATIVE_CONFIG), "w") as f:
      f.write(config_text)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model),
        os.path.join(tmp_dir, CHECKPOINT_SUBDIR), max_to_keep=1)
    saved = manager.save(checkpoint_number=0)
    atomic_publish.replace_dir(tmp_dir, model_dir, atomic_publish.gfile_ops())
  finally:
    if tf.io.gfile.exists(tmp_dir):
      tf.io.gfile.rmtree(tmp_dir)
  return os.path.join(model_dir, os.path.relpath(saved, tmp_dir))
