# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Source-checkout shim for the top-level `official` package.

tf-models-official owns `official`; this repository adds only `official.align`.
When this directory is imported first (repository root on PYTHONPATH), extend
the package path so `official.vision`, `official.nlp`, ... still resolve to the
installed tf-models-official. This file is not shipped in the wheel.
"""
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)
