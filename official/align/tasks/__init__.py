# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tasks of the trainer (`runtime.task.Task`): ALIGN, classification."""
