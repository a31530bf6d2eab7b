"""Exported TF-Hub modules under concurrent load, and export config errors.

Uses the shared `trained_demo_export` session fixture (tests/trained_demo.py).
"""
import os
import threading
import time

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # pylint: disable=unused-import  # Tokeniser ops.

from official.align.checkpoints import compat
from official.align.serving import export_lib

NUM_THREADS = 8
SECONDS = 3.0
TEXTS = [["a red circle"], ["a photo of a blue square", "green star"],
         [""], ["über 東京 🙂 " * 50], ["a small yellow triangle on the left"],
         ["purple", "orange cross", "white diamond"], ["IMG_0412.jpg"],
         ["two shapes: a green star and a white cross"]]


def _images(seed):
  rng = np.random.default_rng(seed)
  height, width = rng.integers(8, 80, size=2)
  return tf.constant(rng.uniform(size=(1 + seed % 3, height, width, 3)),
                     tf.float32)


def test_concurrent_calls_return_sequential_embeddings(trained_demo_export):
  export_dir = trained_demo_export.export_dir
  image_encoder = tf.saved_model.load(os.path.join(export_dir,
                                                   "image_encoder"))
  text_encoder = tf.saved_model.load(os.path.join(export_dir, "text_encoder"))
  # Thread i calls the text module (even i) or the image module (odd i) on
  # its own input, as often as it can for SECONDS.
  calls = []
  for i in range(NUM_THREADS):
    if i % 2 == 0:
      calls.append((text_encoder, tf.constant(TEXTS[i])))
    else:
      calls.append((image_encoder, _images(i)))
  expected = [module(inputs).numpy() for module, inputs in calls]
  counts = [0] * NUM_THREADS
  errors = []
  start = threading.Barrier(NUM_THREADS)

  def worker(i):
    module, inputs = calls[i]
    try:
      start.wait()
      deadline = time.time() + SECONDS
      while time.time() < deadline or counts[i] < 2:
        got = module(inputs).numpy()
        counts[i] += 1
        if not np.allclose(got, expected[i], rtol=0, atol=1e-6):
          errors.append(f"thread {i} call {counts[i]}: max diff "
                        f"{np.abs(got - expected[i]).max()}")
          return
    except Exception as e:  # pylint: disable=broad-except
      errors.append(f"thread {i}: {type(e).__name__}: {e}")

  threads = [threading.Thread(target=worker, args=(i,))
             for i in range(NUM_THREADS)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert not any(t.is_alive() for t in threads)
  assert not errors, errors
  assert min(counts) >= 2, counts
  for e in expected:
    np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, atol=1e-5)
  print(f"calls per thread in {SECONDS} s: {counts}")


def _export_error(trained_demo_export, export_dir, bindings):
  try:
    with pytest.raises(compat.ConfigError) as error:
      export_lib.export(trained_demo_export.model_dir, export_dir,
                        gin_bindings=bindings)
  finally:
    with gin.unlock_config():
      gin.clear_config()
  assert not os.path.exists(export_dir)
  assert not [n for n in os.listdir(os.path.dirname(export_dir))
              if ".tmp-" in n]
  message = str(error.value)
  assert "\n" not in message
  return message


def test_export_refuses_a_vocabulary_larger_than_the_checkpoint_table(
    trained_demo_export, tmp_path):
  with open(os.path.join(trained_demo_export.world_dir, "vocab.txt")) as f:
    tokens = f.read().splitlines()
  vocab = str(tmp_path / "big_vocab.txt")
  with open(vocab, "w") as f:
    f.write("\n".join(tokens + [f"t{i}" for i in range(2000)]) + "\n")
  message = _export_error(trained_demo_export, str(tmp_path / "export"),
                          [f"Preprocessing.vocab_file = '{vocab}'"])
  assert message.startswith(f"Vocabulary {vocab} has {len(tokens) + 2000} "
                            "tokens but the checkpoint's word-embedding table")


def test_export_refuses_a_checkpoint_of_another_architecture(
    trained_demo_export, tmp_path):
  message = _export_error(trained_demo_export, str(tmp_path / "export"),
                          ["TextEncoder.num_layers = 3"])
  assert "does not fit the configured model" in message
  assert "transformer/layer_2" in message


def test_export_refuses_an_existing_export_dir(trained_demo_export, tmp_path):
  export_dir = tmp_path / "export"
  export_dir.mkdir()
  (export_dir / "keep.txt").write_text("not overwritten")
  with pytest.raises(FileExistsError) as error:
    export_lib.export(trained_demo_export.model_dir, str(export_dir))
  assert str(error.value) == (f"{export_dir} exists; pass --overwrite to "
                              "replace it.")
  assert os.listdir(export_dir) == ["keep.txt"]
