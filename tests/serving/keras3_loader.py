"""Loads an ALIGN export with Keras 3 only; embeddings to a .npz.

Run as `python keras3_loader.py EXPORT_DIR INPUTS.npz OUTPUTS.npz` in a
fresh interpreter: a `sys.meta_path` finder makes `import official.align`
and `import tf_keras` fail, so each module is loaded with Keras 3's
`keras.layers.TFSMLayer` inside a `keras.Model`, as a Keras 3 user would.
"""
import importlib.abc
import json
import sys

BLOCKED = ("official.align", "tf_keras", "tensorflow_hub")


class _Block(importlib.abc.MetaPathFinder):

  def find_spec(self, fullname, path=None, target=None):
    if any(fullname == b or fullname.startswith(b + ".") for b in BLOCKED):
      raise ImportError(f"{fullname} is blocked in this test.")
    return None


sys.meta_path.insert(0, _Block())

# pylint: disable=g-import-not-at-top,unused-import
import keras
import numpy as np
import tensorflow as tf
import tensorflow_text

TEXT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")


def main(export_dir, inputs_file, outputs_file):
  data = np.load(inputs_file, allow_pickle=True)  # Written by the test.
  images = data["images"]
  texts = tf.constant(data["texts"].astype(str))
  out = {}

  pixels = keras.Input([None, None, 3], dtype="float32", name="images")
  image_model = keras.Model(pixels, keras.layers.TFSMLayer(
      f"{export_dir}/image_encoder")(pixels)["embeddings"])
  out["image"] = image_model.predict(images, verbose=0)

  encoded = keras.Input([], dtype="string", name="image_bytes")
  bytes_model = keras.Model(encoded, keras.layers.TFSMLayer(
      f"{export_dir}/image_encoder", call_endpoint="image_bytes")(encoded)[
          "embeddings"])
  out["bytes"] = keras.ops.convert_to_numpy(
      bytes_model(tf.constant(data["image_bytes"])))

  strings = keras.Input([], dtype="string", name="text")
  text_model = keras.Model(strings, keras.layers.TFSMLayer(
      f"{export_dir}/text_encoder")(strings)["embeddings"])
  out["text"] = keras.ops.convert_to_numpy(text_model(texts))

  sentences = keras.Input([], dtype="string", name="sentences")
  preprocessor = keras.Model(sentences, keras.layers.TFSMLayer(
      f"{export_dir}/text_preprocessor")(sentences))
  ids = preprocessor(texts)
  out["ids"] = keras.ops.convert_to_numpy(ids["input_word_ids"])

  id_inputs = {k: keras.Input([None], dtype="int32", name=k)
               for k in TEXT_KEYS}
  token_model = keras.Model(id_inputs, keras.layers.TFSMLayer(
      f"{export_dir}/text_encoder", call_endpoint="token_ids")(id_inputs)[
          "embeddings"])
  out["token_ids"] = keras.ops.convert_to_numpy(
      token_model({k: ids[k] for k in TEXT_KEYS}))
  np.savez(outputs_file, **out)
  print(json.dumps({"keras": keras.__version__,
                    "blocked_absent": [b for b in BLOCKED
                                       if b not in sys.modules]}))


if __name__ == "__main__":
  main(*sys.argv[1:4])
