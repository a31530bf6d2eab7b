# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Converts a TF-Hub export to LiteRT (TFLite) models.

  python export/export_tflite.py --export_dir=runs/demo/export \
      --output_dir=runs/demo/tflite [--models=image_encoder.tflite,...]

Writes image_encoder.tflite (float32), image_encoder_int8.tflite
(dynamic-range int8), text_encoder.tflite (strings in; tensorflow-text's
TFLite tokeniser ops) and text_encoder_int8.tflite; see
`official.align.serving.tflite_export`. Every error is one line
`export_tflite: error: ...`, exit 1.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from official.align.serving import tflite_export

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "TF-Hub export (export_tfhub.py).")
flags.DEFINE_string("output_dir", None, "Directory for the .tflite files.")
flags.DEFINE_list("models", list(tflite_export.MODELS), "Models to write.")
flags.mark_flags_as_required(["export_dir", "output_dir"])


def main(argv):
  del argv
  try:
    sizes = tflite_export.export_tflite(FLAGS.export_dir, FLAGS.output_dir,
                                        FLAGS.models)
  except (OSError, ValueError) as e:
    sys.exit("export_tflite: error: " + " ".join(str(e).split()))
  for name, size in sizes.items():
    logging.info("Wrote %s (%.2f MB)", name, size / 1e6)


if __name__ == "__main__":
  app.run(main)
