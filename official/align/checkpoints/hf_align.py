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

and writes a run dir (`run_dir`), as training would have:

  model_dir/operative_config.gin     architecture + preprocessing as gin;
  model_dir/preprocessing.json       the `Preprocessing` (pixel range, sizes,
                                     sequence length, vocabulary);
  model_dir/vocab.txt                the vocabulary;
  model_dir/checkpoints/ckpt-0*      `tf.train.Checkpoint(model=...)` with
                                     every variable, BatchNorm moving
                                     statistics and the temperature included.

so `export/export_tfhub.py --model_dir=...` exports it, `train.py
--gin_file=model_dir/operative_config.gin --model_dir=...` fine-tunes it
(the optimizer starts fresh at step 0), and a task started from it
(`AlignTask.init_checkpoint`, `build_classifier_model.init_checkpoint`)
prepares its inputs with the recorded preprocessing.

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
import os

import gin
import tensorflow as tf

from official.align import atomic_publish
from official.align import gin_utils
from official.align import run_dir
from official.align.checkpoints import hf_config
from official.align.checkpoints import hf_weights
from official.align.modeling import align_model

# The steps of the conversion, by name (tests and tools use them).
ConversionError = hf_config.ConversionError
HF_ALIGN_DEFAULTS = hf_config.HF_ALIGN_DEFAULTS
HF_TEXT_DEFAULTS = hf_config.HF_TEXT_DEFAULTS
HF_VISION_DEFAULTS = hf_config.HF_VISION_DEFAULTS
VOCAB_FILE = hf_config.VOCAB_FILE
assign_weights = hf_weights.assign_weights
check_architecture = hf_config.check_architecture
load_state_dict = hf_weights.load_state_dict
operative_config = hf_config.operative_config
read_config = hf_config.read_config
read_preprocessing = hf_config.read_preprocessing


def build_model(config_text: str) -> align_model.AlignModel:
  """Builds the model of `config_text` (the caller's gin config untouched)."""
  with gin_utils.isolated_config():
    gin.parse_config(config_text)
    return align_model.build_align_model()


def convert(hf_dir: str,
            model_dir: str,
            seq_length: int = 64,
            overwrite: bool = False) -> str:
  """Converts the snapshot in `hf_dir` into a model_dir (see module doc).

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
  preprocessing = read_preprocessing(hf_dir, config, seq_length).replace(
      vocab_file=os.path.join(model_dir, VOCAB_FILE))
  vocab = hf_config.vocab_tokens(hf_dir)
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
      config, preprocessing, preprocessing.vocab_file, source=hf_dir)
  model = build_model(config_text)
  assign_weights(model, state_dict, source=hf_dir)

  tmp_dir = atomic_publish.staging_path(model_dir)
  try:
    tf.io.gfile.makedirs(tmp_dir)
    with tf.io.gfile.GFile(os.path.join(tmp_dir, VOCAB_FILE), "w") as f:
      f.write("\n".join(vocab) + "\n")
    run_dir.write_run_record(tmp_dir, config_text, preprocessing)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model), run_dir.checkpoint_dir(tmp_dir),
        max_to_keep=1)
    saved = manager.save(checkpoint_number=0)
    atomic_publish.replace_dir(tmp_dir, model_dir, atomic_publish.gfile_ops())
  finally:
    if tf.io.gfile.exists(tmp_dir):
      tf.io.gfile.rmtree(tmp_dir)
  return os.path.join(model_dir, os.path.relpath(saved, tmp_dir))
