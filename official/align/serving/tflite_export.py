# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Converts a TF-Hub export (`export_lib.export`) to LiteRT (TFLite) models.

`export_tflite(export_dir, output_dir)` writes:

  image_encoder.tflite       signature `serving_default`: float32 `images`
                             [batch, height, width, 3] in [0, 1], any size →
                             `embeddings` float32 [batch, dim], unit norm
                             (the export's evaluation resize and crop run
                             inside). TFLite builtin ops only.
  image_encoder_int8.tflite  the same with dynamic-range int8 weights.
  text_encoder.tflite        signature `serving_default`: tf.string `text`
                             [batch] (UTF-8) → `embeddings`. Tokenised inside
                             by tensorflow-text's `FastBertNormalizer` and
                             `FastWordpieceTokenizer` (TFLite custom ops, see
                             `interpreter`), packed to the export's length
                             as `[CLS] pieces [SEP]`; the rest is builtins.
  text_encoder_int8.tflite   the same with dynamic-range int8 weights.

The image model is the export's `serving_default` signature. The text model
feeds the export's `token_ids_unchunked` signature (the chunk loop of
`token_ids` has TensorArrays of unknown element shape, which TFLite cannot
lower) from the tokeniser above, which replaces the export's own
`BertTokenizer` (its `CaseFoldUTF8`, `RegexSplitWithOffsets` and
`WordpieceTokenizeWithOffsets` ops have no TFLite kernels). The vocabulary
and sequence length are read from the export; the normalisation (lower case
or not) is the one whose token ids equal the export's `text_preprocessor`
on `PROBE_TEXTS`, and none matching is an error.

The converter is `tf.lite.TFLiteConverter` (TF 2.20 does not deprecate it);
the interpreter is LiteRT's (`ai_edge_litert`), as `tf.lite.Interpreter` is
deprecated in TF 2.20.
"""
import dataclasses
import os
from typing import Dict, List, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from official.align.modeling import align_model
from official.align.serving import portable_files

IMAGE_MODEL = "image_encoder.tflite"
IMAGE_MODEL_INT8 = "image_encoder_int8.tflite"
TEXT_MODEL = "text_encoder.tflite"
TEXT_MODEL_INT8 = "text_encoder_int8.tflite"
MODELS = (IMAGE_MODEL, IMAGE_MODEL_INT8, TEXT_MODEL, TEXT_MODEL_INT8)
TEXT_SIGNATURE = "token_ids_unchunked"
# Texts whose token ids must equal the export's preprocessor's: case,
# accents, CJK, punctuation, control characters, long words, emoji.
PROBE_TEXTS = (
    "a photo of a dog", "A Big BLUE Square, on the LEFT!", "", "  ",
    "Café naïve Ünïcödé résumé", "日本語のテキスト", "don't stop-me.now",
    "tab\there\nnew line", "ctrl\x01char", "x" * 150, "🙂 emoji 🙂",
    "word " * 80)


@dataclasses.dataclass(frozen=True)
class TextPreprocessing:
  """What the TFLite text model needs of the export's preprocessing.

  Attributes:
    vocab: WordPiece vocabulary, one entry per id.
    seq_length: tokens per text, [CLS] and [SEP] included.
    lower_case: lower-case, NFD-normalise and strip accents (BERT uncased).
  """
  vocab: List[str]
  seq_length: int
  lower_case: bool


def interpreter(model_path: str, num_threads: int = 1):
  """A LiteRT interpreter for any of the models above.

  The text models need tensorflow-text's TFLite kernels
  (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`); registering them
  for the image models is harmless.
  """
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  return litert.InterpreterWithCustomOps(
      custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
      model_path=model_path, num_threads=num_threads)


def _vocab_file(export_dir: str) -> str:
  assets = os.path.join(export_dir, "text_encoder", "assets")
  files = tf.io.gfile.glob(os.path.join(assets, "*.txt"))
  if len(files) != 1:
    raise ValueError(f"Expected one vocabulary file in {assets}, found "
                     f"{len(files)}.")
  return files[0]


def pack_token_ids(pieces: tf.RaggedTensor, seq_length: int, cls_id: int,
                   sep_id: int, pad_id: int) -> Dict[str, tf.Tensor]:
  """`[CLS] pieces [SEP]` truncated and padded to `seq_length`, dense ops.

  What Model Garden's `BertPackInputs` does for one segment, written with
  gathers and selects (TFLite builtins) instead of ragged ops.

  Args:
    pieces: int32 [batch, (pieces)] WordPiece ids.
    seq_length: output length (>= 2).
    cls_id: id of [CLS].
    sep_id: id of [SEP].
    pad_id: id of [PAD].

  Returns:
    int32 [batch, seq_length] `input_word_ids`, `input_mask`,
    `input_type_ids`.
  """
  values = tf.concat([tf.cast(pieces.flat_values, tf.int32), [pad_id]], 0)
  splits = tf.cast(pieces.row_splits, tf.int32)
  starts = splits[:-1, None]
  lengths = tf.minimum(splits[1:] - splits[:-1], seq_length - 2)[:, None]
  positions = tf.range(seq_length)[None, :]
  body = tf.gather(values, tf.clip_by_value(starts + positions - 1, 0,
                                            tf.size(values) - 1))
  ids = tf.where(positions == 0, cls_id,
                 tf.where(positions <= lengths, body,
                          tf.where(positions == lengths + 1, sep_id, pad_id)))
  mask = tf.cast(positions <= lengths + 1, tf.int32)
  return {"input_word_ids": ids, "input_mask": mask,
          "input_type_ids": tf.zeros_like(ids)}


def tokenize_fn(preprocessing: TextPreprocessing):
  """tf.string [batch] → the token-id dict, in TFLite-convertible ops."""
  normalizer = tf_text.FastBertNormalizer(
      lower_case_nfd_strip_accents=preprocessing.lower_case)
  tokenizer = tf_text.FastWordpieceTokenizer(
      vocab=preprocessing.vocab, token_out_type=tf.int32,
      unknown_token="[UNK]", no_pretokenization=False)
  ids = {token: preprocessing.vocab.index(token)
         for token in ("[CLS]", "[SEP]", "[PAD]")}

  def tokenize(text: tf.Tensor) -> Dict[str, tf.Tensor]:
    pieces = tokenizer.tokenize(normalizer.normalize(text))
    return pack_token_ids(pieces, preprocessing.seq_length, ids["[CLS]"],
                          ids["[SEP]"], ids["[PAD]"])
  return tokenize


def read_text_preprocessing(export_dir: str) -> TextPreprocessing:
  """The export's vocabulary, length and normalisation (see module doc).

  Raises:
    ValueError: no vocabulary file, or neither normalisation reproduces the
      export's token ids on `PROBE_TEXTS`.
  """
  with tf.io.gfile.GFile(_vocab_file(export_dir)) as f:
    vocab = [line.rstrip("\n") for line in f]
  preprocessor = tf.saved_model.load(
      os.path.join(export_dir, "text_preprocessor"))
  # Called as Model Garden's API (exports before the named signature too).
  want = {k: v.numpy() for k, v in preprocessor(
      tf.constant(PROBE_TEXTS)).items()}
  seq_length = int(want["input_word_ids"].shape[1])
  for lower_case in (True, False):
    preprocessing = TextPreprocessing(vocab, seq_length, lower_case)
    got = tokenize_fn(preprocessing)(tf.constant(PROBE_TEXTS))
    if all((got[k].numpy() == want[k]).all() for k in align_model.TEXT_KEYS):
      return preprocessing
  raise ValueError(
      f"Neither FastBertNormalizer setting reproduces the token ids of "
      f"{export_dir}/text_preprocessor on the probe texts.")


def _convert(converter: tf.lite.TFLiteConverter, int8: bool) -> bytes:
  if int8:  # Dynamic range: int8 weights, float activations.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  return converter.convert()


def convert_image_encoder(export_dir: str, int8: bool = False) -> bytes:
  """The image encoder's `serving_default` as a TFLite flatbuffer."""
  return _convert(tf.lite.TFLiteConverter.from_saved_model(
      os.path.join(export_dir, "image_encoder"),
      signature_keys=["serving_default"]), int8)


def convert_text_encoder(export_dir: str, int8: bool = False,
                         preprocessing: TextPreprocessing = None) -> bytes:
  """Strings → embeddings as a TFLite flatbuffer (with TFText custom ops).

  Raises:
    ValueError: the export has no `token_ids_unchunked` signature (exported
      before it existed: export again with `export/export_tfhub.py`).
  """
  text_dir = os.path.join(export_dir, "text_encoder")
  loaded = tf.saved_model.load(text_dir)
  if TEXT_SIGNATURE not in loaded.signatures:
    raise ValueError(f"{text_dir} has no {TEXT_SIGNATURE!r} signature; "
                     "export it again with export/export_tfhub.py.")
  encode = loaded.signatures[TEXT_SIGNATURE]
  tokenize = tokenize_fn(preprocessing or read_text_preprocessing(export_dir))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              name="text")])
  def serve(text: tf.Tensor) -> Dict[str, tf.Tensor]:
    return {"embeddings": encode(**tokenize(text))["embeddings"]}

  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [serve.get_concrete_function()], loaded)
  converter.allow_custom_ops = True  # tensorflow-text's TFLite ops.
  return _convert(converter, int8)


def export_tflite(export_dir: str, output_dir: str,
                  models: Sequence[str] = MODELS) -> Dict[str, int]:
  """Writes the TFLite models of `export_dir` into `output_dir`.

  Args:
    export_dir: a TF-Hub export (image_encoder/, text_encoder/,
      text_preprocessor/).
    output_dir: created if missing; existing model files are replaced.
    models: which of `MODELS` to write.

  Returns:
    {file name: size in bytes}.
  """
  preprocessing = None
  if TEXT_MODEL in models or TEXT_MODEL_INT8 in models:
    preprocessing = read_text_preprocessing(export_dir)
  builders = {
      IMAGE_MODEL: lambda: convert_image_encoder(export_dir),
      IMAGE_MODEL_INT8: lambda: convert_image_encoder(export_dir, int8=True),
      TEXT_MODEL: lambda: convert_text_encoder(
          export_dir, preprocessing=preprocessing),
      TEXT_MODEL_INT8: lambda: convert_text_encoder(
          export_dir, int8=True, preprocessing=preprocessing),
  }
  return portable_files.write_model_files(output_dir, models, MODELS,
                                          lambda name: builders[name]())
