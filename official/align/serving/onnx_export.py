# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Converts a TF-Hub export (`export_lib.export`) to ONNX with tf2onnx.

`export_onnx(export_dir, output_dir)` writes (opset 17):

  image_encoder.onnx  input `images` float32 [batch, height, width, 3] in
                      [0, 1], any size → `embeddings` float32 [batch, dim],
                      unit norm (the export's `serving_default`).
  text_encoder.onnx   inputs int32 [batch, length] `input_word_ids`,
                      `input_mask`, `input_type_ids` (as the export's
                      `text_preprocessor` makes them) → `embeddings` (the
                      export's `token_ids_unchunked`).

What does not convert, and so is not written (tf2onnx 1.17 reports these
TensorFlow ops as not supported; ONNX has no counterpart):
  * text from strings: tensorflow-text's tokenisers. The export's
    `BertTokenizer` uses `CaseFoldUTF8`, `NormalizeUTF8`,
    `StaticRegexReplace`, `RegexSplitWithOffsets` and
    `WordpieceTokenizeWithOffsets`; the TFLite tokeniser
    (`tflite_export.tokenize_fn`) `FastBertNormalize` and
    `FastWordpieceTokenizeWithOffsets`. Tokenise outside the ONNX model,
    e.g. with the export's `text_preprocessor` (or any BERT WordPiece
    tokenizer on the export's vocab.txt).
  * the `token_ids` signature: its length-chunk loop (`TensorListConcatV2`);
    `token_ids_unchunked` computes the same in one pass.
BERT's exact GELU is `0.5 x erfc(-x / sqrt 2)` in TensorFlow, and ONNX has
no `Erfc` (tf2onnx 1.17 passes it through and onnxruntime rejects the
graph: "No Op registered for Erfc"): `ERFC_HANDLER` rewrites it to
`1 - Erf(x)`, which onnxruntime runs (|error| ~1e-7).
"""
import os
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from official.align.modeling import align_model
from official.align.serving import portable_files

IMAGE_MODEL = "image_encoder.onnx"
TEXT_MODEL = "text_encoder.onnx"
MODELS = (IMAGE_MODEL, TEXT_MODEL)
OPSET = 17
TEXT_SIGNATURE = "token_ids_unchunked"


def _erfc_as_one_minus_erf(ctx, node, name, args):
  """tf2onnx handler: Erfc(x) → Sub(1, Erf(x)), in place."""
  del name, args
  from tf2onnx import utils  # pylint: disable=g-import-not-at-top
  dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
  node.type = "Erf"
  one = ctx.make_const(utils.make_name(f"{node.name}/one"),
                       np.array(1.0, dtype))
  one_minus = ctx.insert_new_node_on_output(
      "Sub", node.output[0], name=utils.make_name(f"{node.name}/one_minus"))
  ctx.replace_inputs(one_minus, [one.output[0], node.output[0]])


ERFC_HANDLER = {"Erfc": (_erfc_as_one_minus_erf, ())}


def _convert_signature(saved_model_dir: str, signature: str):
  """The signature as an ONNX ModelProto with the signature's input names."""
  import tf2onnx  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(saved_model_dir)
  if signature not in loaded.signatures:
    raise ValueError(f"{saved_model_dir} has no {signature!r} signature; "
                     "export it again with export/export_tfhub.py.")
  fn = loaded.signatures[signature]
  names = list(fn.structured_input_signature[1])
  if signature == TEXT_SIGNATURE:
    names = list(align_model.TEXT_KEYS)
  specs = [tf.TensorSpec(fn.structured_input_signature[1][n].shape,
                         fn.structured_input_signature[1][n].dtype, name=n)
           for n in names]

  def call(*args):
    return fn(**dict(zip(names, args)))

  model, _ = tf2onnx.convert.from_function(
      tf.function(call), input_signature=specs, opset=OPSET,
      custom_op_handlers=ERFC_HANDLER)
  return model


def export_onnx(export_dir: str, output_dir: str,
                models: Sequence[str] = MODELS) -> Dict[str, int]:
  """Writes the ONNX models of `export_dir` into `output_dir`.

  Args:
    export_dir: a TF-Hub export.
    output_dir: created if missing; existing model files are replaced.
    models: which of `MODELS` to write.

  Returns:
    {file name: size in bytes}.
  """
  sources = {IMAGE_MODEL: ("image_encoder", "serving_default"),
             TEXT_MODEL: ("text_encoder", TEXT_SIGNATURE)}

  def build(name: str) -> bytes:
    module, signature = sources[name]
    return _convert_signature(os.path.join(export_dir, module),
                              signature).SerializeToString()

  return portable_files.write_model_files(output_dir, models, MODELS, build)
