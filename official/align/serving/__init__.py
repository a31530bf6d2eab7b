# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""TF Hub SavedModel export of the ALIGN towers (see `export_lib`)."""
