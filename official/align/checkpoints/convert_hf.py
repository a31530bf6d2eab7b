# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Converts a local Hugging Face ALIGN snapshot into a model_dir of ours.

  python export/convert_hf_checkpoint.py --hf_dir=/data/align-base \
      --model_dir=/tmp/align_base [--seq_length=64] [--overwrite]

(or `python -m official.align.checkpoints.convert_hf ...`).

Reads config.json, model.safetensors (or pytorch_model.bin), vocab.txt /
tokenizer.json, tokenizer_config.json and preprocessor_config.json from
`--hf_dir` (nothing is downloaded) and writes operative_config.gin,
vocab.txt and checkpoints/ckpt-0 (see `official.align.checkpoints.hf_align`),
ready for `export/export_tfhub.py --model_dir=...` and for fine-tuning with
`official/align/train.py --gin_file=MODEL_DIR/operative_config.gin`.
If any tensor cannot be mapped, every unmapped tensor and unassigned
variable is listed and nothing is written (exit code 1). The snapshot is
data: a weight_map naming files outside --hf_dir, a pytorch_model.bin
holding other objects than tensors and a text projection that does not
match the image embedding are refused; a --model_dir that is or contains
--hf_dir is refused, even with --overwrite.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from official.align.checkpoints import hf_align

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_dir", None, "Local transformers ALIGN snapshot.")
flags.DEFINE_string("model_dir", None, "Output model_dir.")
flags.DEFINE_integer("seq_length", 64, "Tokens per text ([CLS], [SEP] "
                     "included).")
flags.DEFINE_bool("overwrite", False, "Replace a non-empty model_dir.")
flags.mark_flags_as_required(["hf_dir", "model_dir"])


def main(argv):
  del argv
  try:
    checkpoint = hf_align.convert(FLAGS.hf_dir, FLAGS.model_dir,
                                  seq_length=FLAGS.seq_length,
                                  overwrite=FLAGS.overwrite)
  except (ValueError, FileExistsError, FileNotFoundError) as e:
    # ValueError includes hf_align.ConversionError (which lists every
    # unmapped tensor, one per line).
    sys.exit(f"convert_hf_checkpoint: error: {e}")
  logging.info("Wrote %s", checkpoint)
  print(checkpoint)


if __name__ == "__main__":
  app.run(main)
