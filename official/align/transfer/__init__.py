# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Transfer of the ALIGN image tower: linear probe and fine-tuning."""
