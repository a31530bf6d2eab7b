# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Writes the model files of the portable exports (LiteRT, ONNX).

`tflite_export` and `onnx_export` each name their files and say how to build
one; this checks the names asked for and writes the files.
"""
import os
from typing import Callable, Dict, Sequence

import tensorflow as tf


def write_model_files(output_dir: str, models: Sequence[str],
                      known: Sequence[str],
                      build: Callable[[str], bytes]) -> Dict[str, int]:
  """Writes `build(name)` to `output_dir/name` for each of `models`.

  Args:
    output_dir: created if missing; existing model files are replaced.
    models: the file names to write.
    known: the file names the export can build.
    build: file name → its bytes.

  Returns:
    {file name: size in bytes}.

  Raises:
    ValueError: a name of `models` not in `known` (before anything is
      built).
  """
  unknown = set(models) - set(known)
  if unknown:
    raise ValueError(f"Unknown models {sorted(unknown)}; choose from "
                     f"{tuple(known)}.")
  tf.io.gfile.makedirs(output_dir)
  sizes = {}
  for name in models:
    data = build(name)
    with tf.io.gfile.GFile(os.path.join(output_dir, name), "wb") as f:
      f.write(data)
    sizes[name] = len(data)
  return sizes
