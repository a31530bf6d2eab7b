# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Reading image files (local paths or any `tf.io.gfile` URL) for embedding."""
from typing import Sequence

import tensorflow as tf


def read_image_file(path: str) -> bytes:
  """The encoded bytes of one image file (local path or any tf.io.gfile URL).

  Raises:
    FileNotFoundError: naming `path`.
  """
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"Image file not found: {path}")
  with tf.io.gfile.GFile(path, "rb") as f:
    return f.read()


def check_exist(paths: Sequence[str]) -> None:
  """Raises FileNotFoundError naming the first missing file (and a count)."""
  missing = [p for p in paths if not tf.io.gfile.exists(p)]
  if missing:
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    raise FileNotFoundError(f"Image file not found: {missing[0]}{more}")
