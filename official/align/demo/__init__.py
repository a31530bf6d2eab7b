# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The CPU demo: a synthetic world (`world`), its evaluator (`evaluator`)
and the driver of `make demo` (`driver`, `python -m official.align.demo`).
The only package that knows the synthetic world."""
