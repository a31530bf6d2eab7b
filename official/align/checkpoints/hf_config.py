# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""A Hugging Face ALIGN snapshot's configuration, as our gin config.

`read_config` (config.json with transformers' defaults),
`check_architecture` (what our `AlignModel` can mirror), `vocab_tokens`,
`read_preprocessing` (tokenizer and image processor settings →
`Preprocessing`) and `operative_config` (the converted model's gin config).
See `hf_align` for the conversion.
"""
import json
import os
from typing import Dict, List, Mapping

import numpy as np
import tensorflow as tf

from official.align import preprocessing as preprocessing_lib
from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.layers import nn_layers

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


class ConversionError(ValueError):
  """The snapshot does not fit the model; the message lists every problem."""


def read_json(path: str) -> dict:
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
  config = read_json(path)
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


def vocab_tokens(hf_dir: str) -> List[str]:
  """WordPiece tokens by id, from vocab.txt or tokenizer.json."""
  vocab_txt = os.path.join(hf_dir, VOCAB_FILE)
  if tf.io.gfile.exists(vocab_txt):
    with tf.io.gfile.GFile(vocab_txt) as f:
      return [line.rstrip("\n") for line in f]
  tokenizer_json = os.path.join(hf_dir, "tokenizer.json")
  if tf.io.gfile.exists(tokenizer_json):
    model = read_json(tokenizer_json).get("model", {})
    if model.get("type") != "WordPiece":
      raise ConversionError(f"{tokenizer_json} is not a WordPiece tokenizer.")
    by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
      raise ConversionError(f"{tokenizer_json}: vocabulary ids have gaps.")
    return [token for token, _ in by_id]
  raise FileNotFoundError(f"No vocab.txt or tokenizer.json in {hf_dir}.")


def read_preprocessing(hf_dir: str, config: Mapping[str, dict],
                       seq_length: int = 64) -> preprocessing_lib.Preprocessing:
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
    lower_case = bool(read_json(tokenizer_config).get("do_lower_case", True))
  image_size = resize_size = int(config["vision"]["image_size"])
  pixel_range = "symmetric"
  processor_config = os.path.join(hf_dir, "preprocessor_config.json")
  if tf.io.gfile.exists(processor_config):
    processor = read_json(processor_config)
    size = processor.get("size", {"height": 346})
    resize_size = int(size.get("height", size.get("shortest_edge", 346)))
    image_size = resize_size
    if processor.get("do_center_crop", False):
      image_size = int(processor.get("crop_size", {"height": 289})["height"])
    pixel_range = _pixel_range(processor, processor_config)
  return preprocessing_lib.Preprocessing.from_dict(dict(
      seq_length=seq_length, lower_case=lower_case, image_size=image_size,
      resize_size=resize_size, pixel_range=pixel_range))


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


def operative_config(config: Mapping[str, dict], preprocessing: preprocessing_lib.Preprocessing,
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
      "",
      f"Preprocessing.image_size = {preprocessing.image_size}",
      f"Preprocessing.resize_size = {preprocessing.resize_size}",
      f"Preprocessing.pixel_range = {preprocessing.pixel_range!r}",
      f"Preprocessing.seq_length = {preprocessing.seq_length}",
      f"Preprocessing.lower_case = {preprocessing.lower_case}",
      f"Preprocessing.vocab_file = {vocab_file!r}",
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
  ]
  return "\n".join(lines) + "\n"
