# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Converts a local Hugging Face ALIGN snapshot into a model_dir of ours.

  python export/convert_hf_checkpoint.py --hf_dir=/data/align-base \
      --model_dir=/tmp/align_base [--seq_length=64] [--overwrite]

The command of `official.align.checkpoints.convert_hf` (same flags).
"""
from absl import app

from official.align.checkpoints import convert_hf

if __name__ == "__main__":
  app.run(convert_hf.main)
