"""Loads an ALIGN export without `official.align`; embeddings to a .npz.

Run as `python loader_script.py EXPORT_DIR INPUTS.npz OUTPUTS.npz` in a
fresh interpreter: a `sys.meta_path` finder makes `import official.align`
fail, so only the SavedModels (and tensorflow_text ops) are used.
"""
import importlib.abc
import io
import json
import sys


class _BlockAlign(importlib.abc.MetaPathFinder):

  def find_spec(self, fullname, path=None, target=None):
    if fullname == "official.align" or fullname.startswith("official.align."):
      raise ImportError(f"{fullname} is blocked in this test.")
    return None


sys.meta_path.insert(0, _BlockAlign())

# pylint: disable=g-import-not-at-top,unused-import
import numpy as np
from PIL import Image
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text


def _png(array, mode):
  buf = io.BytesIO()
  Image.fromarray(array, mode).save(buf, "PNG")
  return buf.getvalue()


def _raises(fn):
  try:
    fn()
  except Exception as e:  # pylint: disable=broad-except
    return type(e).__name__
  return None


def main(export_dir, inputs_file, outputs_file):
  try:
    import official.align  # pylint: disable=unused-import
    align_blocked = False
  except ImportError:
    align_blocked = True
  data = np.load(inputs_file, allow_pickle=True)  # Written by the test.
  out = {}
  image_hub = hub.KerasLayer(f"{export_dir}/image_encoder")
  image_sm = tf.saved_model.load(f"{export_dir}/image_encoder")
  text_hub = hub.KerasLayer(f"{export_dir}/text_encoder")
  text_sm = tf.saved_model.load(f"{export_dir}/text_encoder")
  prep_hub = hub.KerasLayer(f"{export_dir}/text_preprocessor")
  prep_sm = tf.saved_model.load(f"{export_dir}/text_preprocessor")

  images, texts = data["images"], data["texts"]
  for n in (1, 7):
    out[f"image_hub_{n}"] = image_hub(images[:n]).numpy()
    out[f"image_sm_{n}"] = image_sm(images[:n]).numpy()
    out[f"image_sig_{n}"] = image_sm.signatures["serving_default"](
        images=tf.constant(images[:n]))["embeddings"].numpy()
    out[f"text_hub_{n}"] = text_hub(tf.constant(texts[:n])).numpy()
    out[f"text_sm_{n}"] = text_sm(tf.constant(texts[:n])).numpy()
    out[f"text_sig_{n}"] = text_sm.signatures["serving_default"](
        text=tf.constant(texts[:n]))["embeddings"].numpy()
    ids = prep_hub(tf.constant(texts[:n]))
    out[f"ids_hub_{n}"] = ids["input_word_ids"].numpy()
    out[f"ids_sm_{n}"] = prep_sm(tf.constant(texts[:n]))[
        "input_word_ids"].numpy()
    out[f"token_sig_{n}"] = text_sm.signatures["token_ids"](**ids)[
        "embeddings"].numpy()
    out[f"bytes_sig_{n}"] = image_sm.signatures["image_bytes"](
        image_bytes=tf.constant(data["image_bytes"][:n]))["embeddings"].numpy()
  tokens = prep_sm.tokenize(tf.constant(texts[:2]))
  out["packed_5"] = prep_sm.bert_pack_inputs(
      [tokens], seq_length=tf.constant(5))["input_word_ids"].numpy()
  out["logit_scale_image"] = image_sm.signatures["logit_scale"]()[
      "logit_scale"].numpy()
  out["logit_scale_text"] = text_sm.logit_scale()["logit_scale"].numpy()
  out["logit_bias_image"] = image_sm.signatures["logit_scale"]()[
      "logit_bias"].numpy()
  out["logit_bias_text"] = text_sm.logit_scale()["logit_bias"].numpy()
  out["temperature"] = text_sm.temperature.numpy()

  # As a TF Serving client: signatures by name, outputs fed on by name.
  served_ids = prep_sm.signatures["serving_default"](
      sentences=tf.constant(texts))
  preprocessor_outputs = sorted(served_ids)
  out["chain_sig"] = text_sm.signatures["token_ids"](**served_ids)[
      "embeddings"].numpy()
  out["chain_sig_unchunked"] = text_sm.signatures["token_ids_unchunked"](
      **served_ids)["embeddings"].numpy()

  # Zero-shot with the exported towers only.

  # Edge inputs.
  rng = np.random.default_rng(1)
  edge_texts = ["", "word " * 1000, "Ünïcödé 日本語 🙂 café"]
  out["edge_text"] = text_hub(tf.constant(edge_texts)).numpy()
  out["edge_tiny_image"] = image_hub(
      rng.uniform(size=(1, 1, 1, 3)).astype(np.float32)).numpy()
  out["edge_big_image"] = image_sm(
      rng.uniform(size=(1, 2000, 3000, 3)).astype(np.float32)).numpy()
  gray = _png(rng.integers(0, 256, (20, 30), dtype=np.uint8), "L")
  out["edge_gray_png"] = image_sm.signatures["image_bytes"](
      image_bytes=tf.constant([gray]))["embeddings"].numpy()
  errors = {
      "image_int_dtype": _raises(
          lambda: image_sm(tf.zeros([1, 8, 8, 3], tf.int32))),
      "image_rank3": _raises(lambda: image_sm(tf.zeros([8, 8, 3]))),
      "text_float": _raises(lambda: text_sm(tf.zeros([2]))),
      "text_rank2": _raises(lambda: text_sm(tf.constant([["a"]]))),
      "sig_image_rank3": _raises(
          lambda: image_sm.signatures["serving_default"](
              images=tf.zeros([8, 8, 3]))),
      "sig_text_int": _raises(
          lambda: text_sm.signatures["serving_default"](
              text=tf.constant([1]))),
  }
  np.savez(outputs_file, **out)
  print(json.dumps({"align_blocked": align_blocked, "errors": errors,
                    "preprocessor_outputs": preprocessor_outputs}))


if __name__ == "__main__":
  main(*sys.argv[1:4])
