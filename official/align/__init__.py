# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN: an EfficientNet + BERT dual encoder trained with a contrastive loss."""

__version__ = "0.1.0"
