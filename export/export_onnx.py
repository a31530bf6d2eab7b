# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Converts a TF-Hub export's towers to ONNX with tf2onnx (opset 17).

  python export/export_onnx.py --export_dir=runs/demo/export \
      --output_dir=runs/demo/onnx

Writes image_encoder.onnx (float32 images in [0, 1] → embeddings) and
text_encoder.onnx (BERT token ids → embeddings; tokenise with the export's
text_preprocessor: tensorflow-text's tokeniser ops have no ONNX form). See
`official.align.serving.onnx_export`. Needs `pip install tf2onnx==1.17.0`
(and onnxruntime to run the models; both in requirements-test.txt). Every
error is one line `export_onnx: error: ...`, exit 1.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from official.align.serving import onnx_export

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "TF-Hub export (export_tfhub.py).")
flags.DEFINE_string("output_dir", None, "Directory for the .onnx files.")
flags.DEFINE_list("models", list(onnx_export.MODELS), "Models to write.")
flags.mark_flags_as_required(["export_dir", "output_dir"])


def main(argv):
  del argv
  try:
    sizes = onnx_export.export_onnx(FLAGS.export_dir, FLAGS.output_dir,
                                    FLAGS.models)
  except (ImportError, OSError, ValueError) as e:
    sys.exit("export_onnx: error: " + " ".join(str(e).split()))
  for name, size in sizes.items():
    logging.info("Wrote %s (%.2f MB)", name, size / 1e6)


if __name__ == "__main__":
  app.run(main)
