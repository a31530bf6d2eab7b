"""TF Hub export: exported modules reproduce the in-Python model.

One tiny model (two-conv image tower with BatchNorm, 1-layer BERT, 16-d) is
checkpointed in a fake training model_dir and exported once per module; a
fresh interpreter that cannot import `official.align` loads the export
(`loader_script.py`) and the tests compare what it computed. The zero-shot
test uses the shared trained demo model (`trained_demo_export`) instead.
"""
import io
import json
import os
import subprocess
import sys

import gin
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from official.align import run_dir
from official.align.demo import world as demo_world
from official.align.dataloaders import image_preprocessing
from official.align.dataloaders import text_preprocessing
from official.align.evaluation import zero_shot
from official.align.modeling import align_model
from official.align.serving import export_lib
from official.align.serving import image_module
from official.align.serving import text_module
import tiny_models  # pylint: disable=g-bad-import-order

PYTHON = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SEQ_LENGTH = 8
RESIZE_SIZE, CROP_SIZE, PIXEL_RANGE = 36, 32, "symmetric"
WORDS = ("a photo of the red green blue circle square triangle word "
         "caf ##e ##s").split()

gin.external_configurable(tiny_models.conv_image_encoder,
                          "serving_test_conv_image_encoder")

OPERATIVE_CONFIG = """
build_align_model.image_encoder_cls = @serving_test_conv_image_encoder
Preprocessing.image_size = {crop}
Preprocessing.resize_size = {resize}
Preprocessing.seq_length = {seq_length}
Preprocessing.pixel_range = '{pixel_range}'
Preprocessing.vocab_file = '{vocab}'
TextEncoder.embed_dim = 16
TextEncoder.vocab_size = 64
TextEncoder.hidden_size = 16
TextEncoder.num_layers = 1
TextEncoder.num_attention_heads = 2
TextEncoder.inner_dim = 32
TextEncoder.max_sequence_length = {seq_length}
TextEncoder.dropout_rate = 0.0
TextEncoder.attention_dropout_rate = 0.0
"""


def _encode(image, fmt):
  buf = io.BytesIO()
  Image.fromarray((image * 255).astype(np.uint8)).save(buf, fmt)
  return buf.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """Checkpoints a tiny model, exports it, runs the isolated loader."""
  root = tmp_path_factory.mktemp("export")
  model_dir, export_dir = root / "model", str(root / "hub")
  model_dir.mkdir()
  vocab = model_dir / "vocab.txt"
  vocab.write_text("\n".join(text_preprocessing.RESERVED_TOKENS + tuple(WORDS))
                   + "\n")
  config = OPERATIVE_CONFIG.format(
      seq_length=SEQ_LENGTH, crop=CROP_SIZE, resize=RESIZE_SIZE,
      pixel_range=PIXEL_RANGE, vocab=vocab)
  (model_dir / export_lib.OPERATIVE_CONFIG).write_text(config)
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config(config)
    model = align_model.build_align_model()
  model.temperature.assign(0.07)
  rng = np.random.default_rng(0)
  # Moves the BatchNorm statistics away from their initial values.
  model.encode_image(tf.constant(rng.uniform(size=(4, 32, 32, 3)),
                                 tf.float32), training=True)
  checkpoint = tf.train.Checkpoint(model=model,
                                   optimizer=tf_keras.optimizers.SGD())
  tf.train.CheckpointManager(checkpoint, str(model_dir / "checkpoints"),
                             max_to_keep=1).save(checkpoint_number=3)

  images = rng.uniform(size=(7, 40, 50, 3)).astype(np.float32)
  texts = np.array(["a red circle", "the blue square", "café photos", "",
                    "a photo of a green triangle", "word word word", "Blue"],
                   dtype=object)
  image_bytes = np.array([_encode(im, "PNG" if i % 2 else "JPEG")
                          for i, im in enumerate(images)], dtype=object)
  inputs = dict(images=images, texts=texts, image_bytes=image_bytes)
  np.savez(root / "inputs.npz", **inputs)

  tokenizer = text_preprocessing.TextTokenizer(str(vocab), SEQ_LENGTH)
  decoded = tf.stack([image_preprocessing.preprocess_image(
      b, is_training=False, resize_size=RESIZE_SIZE, crop_size=CROP_SIZE,
      pixel_range=PIXEL_RANGE) for b in image_bytes])
  encode_images = lambda x: model.encode_image(image_module.preprocess_images(
      x, RESIZE_SIZE, CROP_SIZE, PIXEL_RANGE), training=False).numpy()
  encode_texts = lambda t: model.encode_text(tokenizer(t),
                                             training=False).numpy()
  expected = dict(
      image=encode_images(images), text=encode_texts(texts),
      ids=tokenizer(texts)["input_word_ids"].numpy(),
      bytes=model.encode_image(decoded, training=False).numpy())

  export_lib.export(str(model_dir), export_dir)
  with gin.unlock_config():
    gin.clear_config()
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
      [PYTHON, os.path.join(os.path.dirname(__file__), "loader_script.py"),
       export_dir, str(root / "inputs.npz"), str(root / "outputs.npz")],
      cwd=root, env=env, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(model_dir=str(model_dir), export_dir=export_dir,
              expected=expected, config=config,
              outputs=dict(np.load(root / "outputs.npz")),
              report=json.loads(result.stdout.strip().splitlines()[-1]))


def test_isolated_loading_matches_python_model(exported):
  out, expected = exported["outputs"], exported["expected"]
  assert exported["report"]["align_blocked"]
  for n in (1, 7):
    for way in ("hub", "sm", "sig"):
      np.testing.assert_allclose(out[f"image_{way}_{n}"],
                                 expected["image"][:n], atol=1e-5)
      np.testing.assert_allclose(out[f"text_{way}_{n}"],
                                 expected["text"][:n], atol=1e-5)
    np.testing.assert_array_equal(out[f"ids_hub_{n}"], expected["ids"][:n])
    np.testing.assert_array_equal(out[f"ids_sm_{n}"], expected["ids"][:n])
    np.testing.assert_allclose(out[f"token_sig_{n}"], expected["text"][:n],
                               atol=1e-5)
    np.testing.assert_allclose(out[f"bytes_sig_{n}"], expected["bytes"][:n],
                               atol=1e-5)
  # Both texts have 3 word pieces: [CLS] w w w [SEP] fits in 5.
  np.testing.assert_array_equal(out["packed_5"], expected["ids"][:2, :5])
  for key in ("logit_scale_image", "logit_scale_text"):
    np.testing.assert_allclose(out[key], 1 / 0.07, rtol=1e-6)
  np.testing.assert_allclose(out["temperature"], 0.07, rtol=1e-6)
  # A softmax-trained model: no bias (old consumers read logit_scale only).
  assert out["logit_bias_image"] == 0.0 and out["logit_bias_text"] == 0.0


def test_serving_signatures_chain_by_output_name(exported):
  """As TF Serving: the preprocessor's outputs are named after the encoder's
  `token_ids` inputs, and feeding them by name reproduces the text model."""
  assert exported["report"]["preprocessor_outputs"] == sorted(
      align_model.TEXT_KEYS)
  for key in ("chain_sig", "chain_sig_unchunked"):
    np.testing.assert_allclose(exported["outputs"][key],
                               exported["expected"]["text"], atol=1e-5)


def test_keras3_loads_every_module_like_hub_keras_layer(exported, tmp_path):
  """A fresh process without tf_keras, tensorflow_hub or official.align:
  `keras.layers.TFSMLayer` (Keras 3) in a `keras.Model`, per module."""
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  root = os.path.dirname(exported["export_dir"])
  result = subprocess.run(
      [PYTHON, os.path.join(os.path.dirname(__file__), "keras3_loader.py"),
       exported["export_dir"], os.path.join(root, "inputs.npz"),
       str(tmp_path / "keras3.npz")],
      cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["keras"].startswith("3.")
  assert len(report["blocked_absent"]) == 3  # Never imported.
  got, hub_out = dict(np.load(tmp_path / "keras3.npz")), exported["outputs"]
  np.testing.assert_allclose(got["image"], hub_out["image_hub_7"], atol=1e-6)
  np.testing.assert_allclose(got["text"], hub_out["text_hub_7"], atol=1e-6)
  np.testing.assert_array_equal(got["ids"], hub_out["ids_hub_7"])
  np.testing.assert_allclose(got["bytes"], hub_out["bytes_sig_7"], atol=1e-6)
  np.testing.assert_allclose(got["token_ids"], hub_out["token_sig_7"],
                             atol=1e-6)


def test_sigmoid_model_exports_its_logit_bias(exported, tmp_path):
  model_dir = tmp_path / "sigmoid_model"
  model_dir.mkdir()
  config = (exported["config"] + "\nimport official.align.losses\n"
            "AlignModel.loss_fn = @sigmoid_loss\n"
            "AlignModel.temperature_init = 0.1\n"
            "AlignModel.logit_bias_init = -10.0\n")
  (model_dir / export_lib.OPERATIVE_CONFIG).write_text(config)
  try:
    with gin.unlock_config():
      gin.clear_config()
      gin.parse_config(config)
    model = align_model.build_align_model()
  finally:
    with gin.unlock_config():
      gin.clear_config()
  model.log_logit_scale.assign(np.log(12.5))
  model.logit_bias.assign(-6.25)
  checkpoint = tf.train.Checkpoint(model=model)
  tf.train.CheckpointManager(checkpoint, str(model_dir / "checkpoints"),
                             max_to_keep=1).save(checkpoint_number=1)
  export_dir = str(tmp_path / "hub")
  export_lib.export(str(model_dir), export_dir)
  for name in ("image_encoder", "text_encoder"):
    out = tf.saved_model.load(os.path.join(export_dir, name)).signatures[
        "logit_scale"]()
    np.testing.assert_allclose(out["logit_scale"], 12.5, rtol=1e-5)
    np.testing.assert_allclose(out["logit_bias"], -6.25, rtol=1e-6)
  with open(os.path.join(export_dir, "README.md")) as f:
    assert "sigmoid(" in f.read()


def _demo_eval_images(world_dir, count):
  """(keys, encoded images, labels) of the first `count` eval pairs."""
  with open(os.path.join(world_dir, "eval_labels.json")) as f:
    labels = {r["key"]: r for r in json.load(f)}
  keys, encoded = [], []
  for record in tf.data.TFRecordDataset(tf.io.gfile.glob(
      os.path.join(world_dir, "eval-*.tfrecord"))).take(count):
    example = tf.train.Example.FromString(record.numpy())
    keys.append(example.features.feature["key"].bytes_list.value[0].decode())
    encoded.append(example.features.feature["jpg"].bytes_list.value[0])
  return keys, encoded, [labels[k] for k in keys]


def _predict(prompt_embeddings, image_embeddings, num_classes):
  classes = zero_shot.class_embeddings(np.reshape(
      prompt_embeddings, [num_classes, len(zero_shot.DEFAULT_TEMPLATES), -1]))
  return zero_shot.top_k_predictions(
      zero_shot.similarity(image_embeddings, classes), 1)[:, 0]


def test_exported_towers_reproduce_python_zero_shot_on_demo_world(
    trained_demo_export):
  """A trained demo model: in-Python (eval pipeline + model) and exported
  (`image_bytes` and `serving_default` signatures) zero-shot predictions
  agree on demo-world eval images, over colours and colour-shape pairs."""
  demo = trained_demo_export
  try:
    model, config, _ = run_dir.restore_model(demo.model_dir)
  finally:
    with gin.unlock_config():
      gin.clear_config()
  _, encoded, labels = _demo_eval_images(demo.world_dir, 24)
  images = tf.stack([image_preprocessing.preprocess_image(
      b, is_training=False, resize_size=config.resize_size,
      crop_size=config.image_size, pixel_range=config.pixel_range)
                     for b in encoded])
  python_images = model.encode_image(images, training=False).numpy()
  tokenizer = text_preprocessing.TextTokenizer(
      config.vocab_file, config.seq_length, config.lower_case)
  image_module_ = tf.saved_model.load(os.path.join(demo.export_dir,
                                                   "image_encoder"))
  text_module_ = tf.saved_model.load(os.path.join(demo.export_dir,
                                                  "text_encoder"))
  hub_images = image_module_.signatures["image_bytes"](
      image_bytes=tf.constant(encoded))["embeddings"].numpy()
  np.testing.assert_allclose(hub_images, python_images, atol=1e-5)
  colours = list(demo_world.COLOURS)
  for classes, truth in ((colours, [colours.index(r["colour"])
                                    for r in labels]),
                         (demo_world.class_names(), None)):
    prompts = zero_shot.build_prompts(classes)
    python_texts = model.encode_text(tokenizer(tf.constant(prompts)),
                                     training=False).numpy()
    hub_texts = text_module_.signatures["serving_default"](
        text=tf.constant(prompts))["embeddings"].numpy()
    np.testing.assert_allclose(hub_texts, python_texts, atol=1e-5)
    expected = _predict(python_texts, python_images, len(classes))
    np.testing.assert_array_equal(
        _predict(hub_texts, hub_images, len(classes)), expected)
    assert len(set(expected.tolist())) >= 3  # Not a degenerate model.
    if truth is not None:  # The trained model knows colours.
      assert np.mean(expected == np.array(truth)) > 2 / len(classes)


def test_edge_inputs_give_finite_embeddings(exported):
  out = exported["outputs"]
  assert out["edge_text"].shape == (3, 16)
  for key in ("edge_text", "edge_tiny_image", "edge_big_image",
              "edge_gray_png"):
    assert np.all(np.isfinite(out[key])), key
    np.testing.assert_allclose(np.linalg.norm(out[key], axis=-1), 1.0,
                               atol=1e-5)


def test_wrong_dtype_or_rank_fails_at_the_signature(exported):
  errors = exported["report"]["errors"]
  # Restored tf.functions reject non-matching inputs before running.
  for key in ("image_int_dtype", "image_rank3", "text_float", "text_rank2"):
    assert errors[key] in ("ValueError", "TypeError"), (key, errors[key])
  # Signature functions check their inputs when called.
  for key in ("sig_image_rank3", "sig_text_int"):
    assert errors[key] in ("ValueError", "TypeError", "InvalidArgumentError"
                          ), (key, errors[key])


def test_saved_model_cli_runs_text_encoder(exported):
  # saved_model_cli cannot load tensorflow_text's ops by itself.
  script = ("import sys, tensorflow_text\n"
            "from tensorflow.python.tools import saved_model_cli\n"
            "sys.argv = ['saved_model_cli'] + sys.argv[1:]\n"
            "saved_model_cli.main()\n")
  text_dir = os.path.join(exported["export_dir"], "text_encoder")
  run = subprocess.run(
      [PYTHON, "-c", script, "run", "--dir", text_dir, "--tag_set", "serve",
       "--signature_def", "serving_default",
       "--input_exprs", 'text=["a red circle"]'],
      capture_output=True, text=True, check=False)
  assert run.returncode == 0, run.stderr[-2000:]
  assert "Result for output key embeddings:" in run.stdout
  values = np.array(run.stdout.split("embeddings:")[1].strip(" []\n").split(),
                    np.float32)
  np.testing.assert_allclose(values, exported["expected"]["text"][0],
                             atol=1e-5)
  show = subprocess.run(
      [PYTHON, "-c", script, "show", "--dir", text_dir, "--all"],
      capture_output=True, text=True, check=False)
  for name in ("serving_default", "token_ids", "token_ids_unchunked",
               "logit_scale", "logit_bias", "input_word_ids", "embeddings"):
    assert name in show.stdout, name


def test_readme_documents_signatures(exported):
  with open(os.path.join(exported["export_dir"], "README.md")) as f:
    readme = f.read()
  for name in ("image_bytes", "token_ids", "logit_scale", "text_preprocessor",
               "bert_pack_inputs"):
    assert name in readme


def test_existing_export_dir_is_refused(exported):
  with pytest.raises(FileExistsError):
    export_lib.export(exported["model_dir"], exported["export_dir"])
  run = subprocess.run(
      [PYTHON, os.path.join(REPO, "export", "export_tfhub.py"),
       f"--model_dir={exported['model_dir']}",
       f"--export_dir={exported['export_dir']}"],
      capture_output=True, text=True, check=False)
  assert run.returncode == 1
  assert run.stderr.strip().splitlines()[-1].startswith(
      "export_tfhub: error:")


def test_fine_tuning_through_hub_layer(exported):
  tf_keras.utils.set_random_seed(0)
  encoder = hub.KerasLayer(
      os.path.join(exported["export_dir"], "image_encoder"), trainable=True)
  classifier = tf_keras.Sequential([encoder, tf_keras.layers.Dense(2)])
  rng = np.random.default_rng(0)
  labels = np.array([0, 1] * 4)
  # Class 1 images are brighter.
  images = tf.constant(rng.uniform(size=(8, 24, 24, 3)) * 0.5 +
                       labels[:, None, None, None] * 0.5, tf.float32)
  classifier(images)
  before = [v.numpy() for v in encoder.trainable_variables]
  assert before and not any("temperature" in v.name
                            for v in encoder.trainable_variables)
  optimizer = tf_keras.optimizers.SGD(0.5)
  loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  losses = []
  for _ in range(6):
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, classifier(images, training=True))
    grads = tape.gradient(loss, classifier.trainable_variables)
    optimizer.apply_gradients(zip(grads, classifier.trainable_variables))
    losses.append(float(loss))
  assert losses[-1] < losses[0], losses
  changed = [not np.allclose(b, v.numpy())
             for b, v in zip(before, encoder.trainable_variables)]
  assert all(changed)
  # BatchNorm ran in training mode: its moving statistics moved.
  moving = [v for v in encoder.non_trainable_variables if "moving" in v.name]
  assert moving and not np.allclose(moving[0].numpy(), 0.0)


def test_text_module_builds_model_garden_preprocessor(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(text_preprocessing.RESERVED_TOKENS + ("hi",)))
  preprocessor = text_module.build_text_preprocessor(str(vocab), 4, True)
  ids = preprocessor(tf.constant(["Hi hi hi"]))["input_word_ids"]
  np.testing.assert_array_equal(ids, [[2, 5, 5, 3]])


def _failing_final_rename(monkeypatch):
  """Makes moving a staged output (`*.tmp-*`) into place fail, as a full
  disk would; the rollback's renames still work."""
  rename = tf.io.gfile.rename

  def failing_rename(src, dst, overwrite=False):
    if ".tmp-" in os.path.basename(src.rstrip("/")):
      raise tf.errors.ResourceExhaustedError(None, None, "simulated disk full")
    return rename(src, dst, overwrite)

  monkeypatch.setattr(tf.io.gfile, "rename", failing_rename)


def test_failed_replace_keeps_the_old_export(exported, monkeypatch):
  export_dir = exported["export_dir"]
  parent = os.path.dirname(export_dir)
  before = sorted(os.listdir(parent))
  files = {name: open(os.path.join(export_dir, name, "saved_model.pb"),
                      "rb").read()
           for name in ("image_encoder", "text_encoder", "text_preprocessor")}
  _failing_final_rename(monkeypatch)
  with pytest.raises(tf.errors.ResourceExhaustedError, match="disk full"):
    export_lib.export(exported["model_dir"], export_dir, overwrite=True)
  monkeypatch.undo()
  assert sorted(os.listdir(parent)) == before  # No staged or set-aside dir.
  for name, data in files.items():
    with open(os.path.join(export_dir, name, "saved_model.pb"), "rb") as f:
      assert f.read() == data, name
