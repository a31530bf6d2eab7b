# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Exports a trained ALIGN model_dir as TF Hub SavedModels.

  python export/export_tfhub.py --model_dir=/tmp/align \
      --export_dir=/tmp/align_hub [--overwrite]

The command of `official.align.serving.export_tfhub` (same flags).
"""
from absl import app

from official.align.serving import export_tfhub

if __name__ == "__main__":
  app.run(export_tfhub.main)
