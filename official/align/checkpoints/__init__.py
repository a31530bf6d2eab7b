# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Importers of ALIGN checkpoints trained elsewhere (see `hf_align`)."""
