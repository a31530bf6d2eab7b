# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The inference layer under evaluation and search: `embedder.Embedder`,
`loaders.from_hub_dir` / `from_model_dir`, image-file reading, query
arithmetic (`queries`) and the command lines' model flags (`model_flags`).
It imports serving and the run dir, never training code."""
