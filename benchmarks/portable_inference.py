# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Size and single-item latency of the LiteRT (TFLite) and ONNX exports.

The reference model (`configs/bench_reference.gin`, random weights) is
exported as in `benchmarks.inference` and converted with
`tflite_export.export_tflite` (float32 and dynamic-range int8) and
`onnx_export.export_onnx`. Each variant encodes one image (float32
[1, size, size, 3] in [0, 1], the module's resize and crop inside) or one
caption, next to the TF-Hub SavedModel's `serving_default` on the same
input: items/s = 1 / latency, cases alternating window by window, medians.
The ONNX text model starts from token ids (made beforehand by the export's
`text_preprocessor`: ONNX has no tokeniser ops); the others from the string.
LiteRT runs with tensorflow-text's TFLite ops registered, LiteRT and
onnxruntime on as many threads as TensorFlow. Sizes are the files' against
the SavedModel directory's (lower is better).

  python -m benchmarks.portable_inference [--windows=7 --repeats=20]
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import sys
import tempfile
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_text  # pylint: disable=unused-import

from benchmarks import inference
from benchmarks import reference
from benchmarks import results as results_lib
from official.align.modeling import align_model
from official.align.serving import onnx_export
from official.align.serving import tflite_export

CAPTION = "a photo of a small dog running on the beach next to the sea"


def _dir_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, f))
             for root, _, files in os.walk(path) for f in files)


def make_cases(export_dir: str, tflite_dir: str, onnx_dir: str,
               threads: int) -> Dict[str, Callable[[], None]]:
  """Case name → fn() encoding one image or one caption."""
  import onnxruntime  # pylint: disable=g-import-not-at-top
  size = reference.reference_shapes()["image_size"]
  image = np.random.default_rng(0).uniform(
      size=(1, size, size, 3)).astype(np.float32)
  caption = np.array([CAPTION.encode("utf-8")])
  cases = {}
  saved_image = tf.saved_model.load(
      os.path.join(export_dir, "image_encoder")).signatures["serving_default"]
  saved_text = tf.saved_model.load(
      os.path.join(export_dir, "text_encoder")).signatures["serving_default"]
  image_tensor, caption_tensor = tf.constant(image), tf.constant(caption)
  cases["savedmodel_image"] = lambda: saved_image(
      images=image_tensor)["embeddings"].numpy()
  cases["savedmodel_text"] = lambda: saved_text(
      text=caption_tensor)["embeddings"].numpy()
  for name in tflite_export.MODELS:
    runner = tflite_export.interpreter(
        os.path.join(tflite_dir, name), num_threads=threads
    ).get_signature_runner("serving_default")
    if name.startswith("image"):
      cases[name] = lambda r=runner: r(images=image)["embeddings"]
    else:
      cases[name] = lambda r=runner: r(text=caption)["embeddings"]
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = threads
  preprocessor = tf.saved_model.load(os.path.join(export_dir,
                                                  "text_preprocessor"))
  ids = {k: v.numpy() for k, v in preprocessor.signatures["serving_default"](
      sentences=caption_tensor).items()}
  for name, feeds in ((onnx_export.IMAGE_MODEL, {"images": image}),
                      (onnx_export.TEXT_MODEL,
                       {k: ids[k] for k in align_model.TEXT_KEYS})):
    session = onnxruntime.InferenceSession(
        os.path.join(onnx_dir, name), options,
        providers=["CPUExecutionProvider"])
    cases[name] = lambda s=session, f=feeds: s.run(["embeddings"], f)
  return cases


def measure(cases: Dict[str, Callable[[], None]], windows: int,
            repeats: int) -> Dict[str, float]:
  """Median items/s per case (one item per call)."""
  runners = {}
  for name, fn in cases.items():
    for _ in range(3):  # Warm-up: first calls allocate and trace.
      fn()

    def repeated(fn=fn):
      for _ in range(repeats):
        fn()
    runners[name] = repeated
  times = reference.interleaved_windows(runners, windows)
  return {name: reference.median([repeats / t for t in times[name]])
          for name in cases}


def run(windows: int = 7, repeats: int = 20) -> List:
  """The portable-export rows in the common result format."""
  reference.parse_reference_config()
  threads = reference.tf_threads()
  with tempfile.TemporaryDirectory() as work_dir:
    export_dir = inference.export_reference(work_dir)
    tflite_dir = os.path.join(work_dir, "tflite")
    onnx_dir = os.path.join(work_dir, "onnx")
    sizes = dict(tflite_export.export_tflite(export_dir, tflite_dir))
    sizes.update(onnx_export.export_onnx(export_dir, onnx_dir))
    saved_sizes = {m: _dir_bytes(os.path.join(export_dir, m))
                   for m in ("image_encoder", "text_encoder")}
    rates = measure(make_cases(export_dir, tflite_dir, onnx_dir, threads),
                    windows, repeats)
  extra = dict(threads=threads, image_size=reference.reference_shapes()[
      "image_size"], load_average=round(os.getloadavg()[0], 2))
  labels = {
      tflite_export.IMAGE_MODEL: "LiteRT image_encoder.tflite (float32)",
      tflite_export.IMAGE_MODEL_INT8: "LiteRT image_encoder_int8.tflite",
      onnx_export.IMAGE_MODEL: "onnxruntime image_encoder.onnx",
      tflite_export.TEXT_MODEL: "LiteRT text_encoder.tflite (float32, "
                                "strings in)",
      tflite_export.TEXT_MODEL_INT8: "LiteRT text_encoder_int8.tflite "
                                     "(strings in)",
      onnx_export.TEXT_MODEL: "onnxruntime text_encoder.onnx (token ids in)",
  }
  rows = []
  for name, label in labels.items():
    tower = "image" if name.startswith("image") else "text"
    unit = "images/s" if tower == "image" else "texts/s"
    rows.append(results_lib.result(
        f"portable: {label}, one {tower}", f"{unit} (single item)",
        rates[name], f"TF-Hub SavedModel {tower}_encoder serving_default",
        rates[f"savedmodel_{tower}"], goal=None, **extra))
  for name, label in labels.items():
    tower = "image" if name.startswith("image") else "text"
    rows.append(results_lib.result(
        f"portable: {label} size", "MB (lower is better)", sizes[name] / 1e6,
        f"TF-Hub SavedModel {tower}_encoder/ directory",
        saved_sizes[f"{tower}_encoder"] / 1e6, goal="lower is better",
        **extra))
  return rows


def main():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--windows", type=int, default=7)
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  for r in run(args.windows, args.repeats):
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
