# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Exports a trained ALIGN checkpoint as three TF Hub SavedModels.

`export(model_dir, export_dir)` restores the run's model
(`run_dir.restore_model`: built in float32 from its operative_config.gin,
on an isolated gin configuration) from the latest (or a given) checkpoint
and writes, with the run's recorded `Preprocessing`:

  export_dir/image_encoder/      float32 images in [0, 1] (any size) or
                                 encoded bytes → unit embeddings.
  export_dir/text_encoder/       strings (tokenised inside) or token ids →
                                 unit embeddings.
  export_dir/text_preprocessor/  strings → BERT token ids (Model Garden's
                                 preprocessing API: `.tokenize`,
                                 `.bert_pack_inputs`).
  export_dir/README.md           signatures, sizes, temperature, usage.

Both encoders carry the trained `temperature` variable and a `logit_scale`
signature (logits = cosine similarity * logit_scale). Everything is written
to a temporary sibling directory that replaces `export_dir` at the end
(`atomic_publish.replace_dir`): a failed export leaves nothing behind, and a
failed replace leaves the old export in place. An `export_dir` that is or
contains `model_dir`, the checkpoint or the vocabulary is refused.

The operative config is read back with `run_dir_config` (no `include`, no
`import` outside official.align, no dynamic registration).
"""
import os
from typing import Optional, Sequence

import tensorflow as tf

from official.align import atomic_publish
from official.align import preprocessing as preprocessing_lib
from official.align import run_dir
from official.align.modeling import align_model
from official.align.serving import image_module
from official.align.serving import layers
from official.align.serving import text_module

OPERATIVE_CONFIG = run_dir.OPERATIVE_CONFIG
MODULES = ("image_encoder", "text_encoder", "text_preprocessor")
# The preprocessing of the exported modules is the run's.
ServingConfig = preprocessing_lib.Preprocessing


def build_serving_modules(model: align_model.AlignModel,
                          preprocessing: preprocessing_lib.Preprocessing):
  """The exported image and text modules of `model` and their signatures.

  Returns:
    (image module, its signatures, text module, its signatures): see
    `image_module.build_image_module`, `text_module.build_text_module`.
  """
  logit_bias = 0.0 if model.logit_bias is None else model.logit_bias
  image, image_signatures = image_module.build_image_module(
      model.image_encoder, model.temperature, preprocessing.resize_size,
      preprocessing.image_size, preprocessing.pixel_range,
      logit_bias=logit_bias)
  text, text_signatures = text_module.build_text_module(
      model.text_encoder, model.temperature, preprocessing.vocab_file,
      preprocessing.seq_length, preprocessing.lower_case,
      logit_bias=logit_bias)
  return image, image_signatures, text, text_signatures


def _probabilities_section(logit_bias: Optional[float]) -> str:
  """How the export's logits become probabilities, for its training loss."""
  if logit_bias is None:
    return """Trained with the softmax contrastive loss (`logit_bias` = 0):
probabilities over a set of candidates (e.g. zero-shot classes, one image
against N texts) are `softmax(logit_scale * cosine)` over the candidates;
a single pair has no probability of its own."""
  return f"""Trained with the sigmoid loss (SigLIP; `logit_bias` =
{logit_bias:.6g}): each image-text pair has its own probability of matching,
`sigmoid(logit_scale * cosine + logit_bias)`, independent of the other
candidates (for a ranking, any monotone score such as the cosine does)."""


def _readme(config: preprocessing_lib.Preprocessing, model: align_model.AlignModel,
            checkpoint: str) -> str:
  """README.md of an export."""
  temperature = float(model.temperature.numpy())
  logit_bias = (None if model.logit_bias is None
                else float(model.logit_bias.numpy()))
  embed_dim = int(model.encode_text(
      {k: tf.zeros([1, 2], tf.int32) for k in align_model.TEXT_KEYS}
  ).shape[-1])
  return f"""# ALIGN TF Hub export

Exported from `{checkpoint}`. Embeddings are float32 `[batch, {embed_dim}]`
with unit L2 norm; logits = cosine similarity × `logit_scale` + `logit_bias`
(`logit_scale` = 1 / temperature = {1.0 / temperature:.6g}, `logit_bias` =
{logit_bias or 0.0:.6g}).

{_probabilities_section(logit_bias)}

## image_encoder/

* `hub.KerasLayer("image_encoder")` / default call and signature
  `serving_default`: `images` float32 `[batch, height, width, 3]`, RGB in
  [0, 1], any height and width → `embeddings`. Inside: the evaluation
  geometry (shorter side resized to {config.resize_size}, central
  {config.image_size}×{config.image_size} crop) and the tower's pixel range
  ("{config.pixel_range}").
* `image_bytes`: `image_bytes` tf.string `[batch]` of encoded
  JPEG/PNG/GIF/BMP → `embeddings` (decoded as in evaluation).
* `logit_scale`: no input → `logit_scale` and `logit_bias`, float32
  scalars.
* `hub.KerasLayer(..., trainable=True)` fine-tunes the tower (BatchNorm in
  training mode when called with `training=True`). `temperature` and
  `logit_bias` are non-trainable variables.

## text_encoder/

Needs `import tensorflow_text` before loading (tokeniser ops).

* Default call and `serving_default`: `text` tf.string `[batch]` (UTF-8) →
  `embeddings`. Tokenised inside (WordPiece, vocab in `assets/`,
  lower_case={config.lower_case}), truncated to {config.seq_length} tokens.
* `token_ids`: int32 `[batch, length]` `input_word_ids`, `input_mask`,
  `input_type_ids` (as made by `text_preprocessor`) → `embeddings`.
* `token_ids_unchunked`: the same in one pass (no loop; what the TFLite and
  ONNX converters take).
* `logit_scale`: as above.

## text_preprocessor/

Model Garden's BERT preprocessing API (needs `import tensorflow_text`):
default call and `serving_default` `sentences` tf.string `[batch]` → int32
`[batch, {config.seq_length}]` `input_word_ids`, `input_mask`,
`input_type_ids` (named as `text_encoder`'s `token_ids` inputs, so a TF
Serving client feeds them on by name); `.tokenize(strings)` →
RaggedTensor; `.bert_pack_inputs([tokens], seq_length=N)`.

## Example (TF-Hub, tf-keras)

```python
import tensorflow as tf, tensorflow_hub as hub, tensorflow_text  # noqa
image_encoder = hub.KerasLayer("image_encoder")
text_encoder = hub.KerasLayer("text_encoder")
head = tf.saved_model.load("text_encoder").logit_scale()
logits = head["logit_scale"] * tf.matmul(
    image_encoder(images), text_encoder(tf.constant(["a photo of a dog"])),
    transpose_b=True) + head["logit_bias"]
```

## Example (Keras 3)

`hub.KerasLayer` needs tf-keras; with Keras 3 (`import keras`, the default
since TF 2.16) load each module with `keras.layers.TFSMLayer`. Its default
endpoint `serve` is `serving_default`; `call_endpoint="image_bytes"` and
`"token_ids"` (one dict of the three id tensors) reach the others. Each
returns a dict with `embeddings`:

```python
import keras, tensorflow_text  # noqa
text = keras.Input([], dtype="string")
text_model = keras.Model(
    text, keras.layers.TFSMLayer("text_encoder")(text)["embeddings"])
pixels = keras.Input([None, None, 3])
image_model = keras.Model(
    pixels, keras.layers.TFSMLayer("image_encoder")(pixels)["embeddings"])
```

Inspect with `saved_model_cli show --dir image_encoder --all`. The text
modules use tensorflow_text ops, which `saved_model_cli` does not load by
itself; run it as

```sh
python -c "import sys, tensorflow_text
from tensorflow.python.tools import saved_model_cli
sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()" \\
  run --dir text_encoder --tag_set serve --signature_def serving_default \\
  --input_exprs 'text=["a photo of a dog"]'
```
"""


def export(model_dir: str,
           export_dir: str,
           checkpoint: Optional[str] = None,
           overwrite: bool = False,
           gin_bindings: Sequence[str] = ()) -> str:
  """Writes the three SavedModels and README.md of a trained model.

  Args:
    model_dir: a run dir (operative config, checkpoints).
    export_dir: output directory; must not exist unless `overwrite`.
    checkpoint: checkpoint prefix; default: the latest in `model_dir`.
    overwrite: replace an existing `export_dir`.
    gin_bindings: extra gin bindings (e.g. `Preprocessing.resize_size = 320`
      or `Preprocessing.vocab_file = '/new/path/vocab.txt'`; the old names
      `InputReader.resize_size`, `TrainConfig.vocab_file` work too).

  Returns:
    The checkpoint that was exported.

  Raises:
    FileExistsError: `export_dir` exists and not `overwrite`.
    ValueError: `export_dir` is or contains an input (model_dir, checkpoint,
      vocabulary), even with `overwrite`; a bad binding (strictly parsed).
    run_dir_config.UntrustedConfigError: see `run_dir.restore_model`.
  """
  export_dir = export_dir.rstrip("/")
  atomic_publish.check_not_an_input(
      export_dir, [("--model_dir", model_dir), ("--checkpoint", checkpoint)],
      "--export_dir")
  if tf.io.gfile.exists(export_dir) and not overwrite:
    raise FileExistsError(
        f"{export_dir} exists; pass --overwrite to replace it.")
  model, config, checkpoint = run_dir.restore_model(
      model_dir, checkpoint, gin_bindings, strict_bindings=True)
  atomic_publish.check_not_an_input(
      export_dir, [("checkpoint", checkpoint),
                   ("vocabulary (Preprocessing.vocab_file)",
                    config.vocab_file)],
      "--export_dir")
  image, image_signatures, text, text_signatures = build_serving_modules(
      model, config)

  tmp_dir = atomic_publish.staging_path(export_dir)
  try:
    with layers.no_traces():
      for name, module, signatures in (
          ("image_encoder", image, image_signatures),
          ("text_encoder", text, text_signatures)):
        (input_spec,) = tf.nest.flatten(
            signatures["serving_default"].structured_input_signature)
        saveable = layers.reusable_saved_model(module, input_spec)
        for endpoint, fn in layers.keras_endpoints(signatures).items():
          setattr(saveable, endpoint, fn)
        tf.saved_model.save(saveable, os.path.join(tmp_dir, name),
                            signatures=signatures)
    preprocessor_signatures = text_module.preprocessor_signatures(
        text.preprocessor)
    for endpoint, fn in layers.keras_endpoints(
        preprocessor_signatures).items():
      setattr(text.preprocessor, endpoint, fn)
    text.preprocessor.save(
        os.path.join(tmp_dir, "text_preprocessor"), include_optimizer=False,
        save_format="tf", signatures=preprocessor_signatures)
    with tf.io.gfile.GFile(os.path.join(tmp_dir, "README.md"), "w") as f:
      f.write(_readme(config, model, checkpoint))
    atomic_publish.replace_dir(tmp_dir, export_dir, atomic_publish.gfile_ops())
  finally:
    if tf.io.gfile.exists(tmp_dir):
      tf.io.gfile.rmtree(tmp_dir)
  return checkpoint
