"""LiteRT (TFLite) and ONNX conversions of the trained demo export.

The shared trained demo model (`trained_demo_export`) is converted once per
test session: four TFLite models (LiteRT interpreter with tensorflow-text's TFLite
ops) and two ONNX models (onnxruntime). Each is compared with the
SavedModel it came from: embeddings (float32 max abs diff 1e-4, int8
cosine 0.99) and zero-shot predictions on demo-world eval images (argmax
agreement 98%).
"""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # pylint: disable=unused-import

from official.align.demo import world as demo_world
from official.align.evaluation import zero_shot
from official.align.serving import onnx_export
from official.align.serving import tflite_export

NUM_IMAGES = 96


def _eval_images(world_dir, count):
  """float32 [count, H, W, 3] in [0, 1]: the first demo-world eval images."""
  images = []
  for record in tf.data.TFRecordDataset(tf.io.gfile.glob(
      os.path.join(world_dir, "eval-*.tfrecord"))).take(count):
    example = tf.train.Example.FromString(record.numpy())
    encoded = example.features.feature["jpg"].bytes_list.value[0]
    images.append(tf.io.decode_jpeg(encoded, channels=3).numpy())
  return np.stack(images).astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def converted(trained_demo_export, tmp_path_factory):
  """The conversions, the SavedModels' outputs and the inputs.

  Session-scoped, so that other modules' tests running between these on
  a worker do not make it convert again."""
  export_dir = trained_demo_export.export_dir
  root = tmp_path_factory.mktemp("portable")
  tflite_sizes = tflite_export.export_tflite(export_dir, str(root / "tflite"))
  onnx_sizes = onnx_export.export_onnx(export_dir, str(root / "onnx"))
  classes = demo_world.class_names()
  prompts = zero_shot.build_prompts(classes)
  images = _eval_images(trained_demo_export.world_dir, NUM_IMAGES)
  image_module = tf.saved_model.load(os.path.join(export_dir,
                                                  "image_encoder"))
  text_module = tf.saved_model.load(os.path.join(export_dir, "text_encoder"))
  preprocessor = tf.saved_model.load(os.path.join(export_dir,
                                                  "text_preprocessor"))
  ids = preprocessor.signatures["serving_default"](
      sentences=tf.constant(prompts))
  return dict(
      export_dir=export_dir, root=root, tflite_sizes=tflite_sizes,
      onnx_sizes=onnx_sizes,
      classes=classes, prompts=prompts, images=images,
      ids={k: v.numpy() for k, v in ids.items()},
      want_images=image_module.signatures["serving_default"](
          images=tf.constant(images))["embeddings"].numpy(),
      want_texts=text_module.signatures["serving_default"](
          text=tf.constant(prompts))["embeddings"].numpy())


def _run_tflite(path, **inputs):
  runner = tflite_export.interpreter(str(path)).get_signature_runner(
      "serving_default")
  return runner(**inputs)["embeddings"]


def _tflite_embeddings(converted, image_model, text_model):
  root = converted["root"] / "tflite"
  texts = np.array([p.encode("utf-8") for p in converted["prompts"]])
  return (_run_tflite(root / image_model, images=converted["images"]),
          _run_tflite(root / text_model, text=texts))


def _predictions(classes, image_embeddings, text_embeddings):
  class_embeddings = zero_shot.class_embeddings(np.reshape(
      text_embeddings, [len(classes), len(zero_shot.DEFAULT_TEMPLATES), -1]))
  return zero_shot.top_k_predictions(
      zero_shot.similarity(image_embeddings, class_embeddings), 1)[:, 0]


def test_tflite_files_are_written_int8_smaller(converted):
  sizes = converted["tflite_sizes"]
  assert set(sizes) == set(tflite_export.MODELS)
  for name, size in sizes.items():
    assert os.path.getsize(converted["root"] / "tflite" / name) == size
  # Tensors under 1024 elements stay float32: in this tiny model that is
  # much of the text tower, so only "smaller" holds for every size.
  assert sizes[tflite_export.IMAGE_MODEL_INT8] < sizes[
      tflite_export.IMAGE_MODEL]
  assert sizes[tflite_export.TEXT_MODEL_INT8] < sizes[
      tflite_export.TEXT_MODEL]


def test_tflite_float32_matches_saved_model(converted):
  images, texts = _tflite_embeddings(converted, tflite_export.IMAGE_MODEL,
                                     tflite_export.TEXT_MODEL)
  np.testing.assert_allclose(images, converted["want_images"], atol=1e-4)
  np.testing.assert_allclose(texts, converted["want_texts"], atol=1e-4)
  # Over the 48 colour-shape classes (near-ties between shapes can flip
  # under float rounding, hence a rate and not equality).
  agreement = np.mean(
      _predictions(converted["classes"], images, texts) == _predictions(
          converted["classes"], converted["want_images"],
          converted["want_texts"]))
  assert agreement >= 0.98, agreement


def test_tflite_int8_is_close_and_agrees_on_zero_shot_colours(converted):
  images, texts = _tflite_embeddings(converted,
                                     tflite_export.IMAGE_MODEL_INT8,
                                     tflite_export.TEXT_MODEL_INT8)
  for got, want in ((images, converted["want_images"]),
                    (texts, converted["want_texts"])):
    cosine = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1)
    assert cosine.min() >= 0.99, cosine.min()
  # Colours: what this short-trained model has learned (margins far above
  # the int8 error). Its 48 colour-shape classes differ by near-tied shape
  # scores, which int8 rounding reorders (93.8% agreement here; 99.4% for
  # the `make demo` model, docs/portable_exports.md).
  colours = list(demo_world.COLOURS)
  prompts = zero_shot.build_prompts(colours)
  text_module = tf.saved_model.load(os.path.join(converted["export_dir"],
                                                 "text_encoder"))
  want_texts = text_module.signatures["serving_default"](
      text=tf.constant(prompts))["embeddings"].numpy()
  int8_texts = _run_tflite(
      converted["root"] / "tflite" / tflite_export.TEXT_MODEL_INT8,
      text=np.array([p.encode("utf-8") for p in prompts]))
  want = _predictions(colours, converted["want_images"], want_texts)
  assert len(set(want.tolist())) >= 3  # Not a degenerate model.
  agreement = np.mean(_predictions(colours, images, int8_texts) == want)
  assert agreement >= 0.98, agreement


def test_tflite_tokeniser_reproduces_the_export_preprocessor(converted):
  preprocessing = tflite_export.read_text_preprocessing(
      converted["export_dir"])
  assert preprocessing.lower_case  # demo.gin's InputReader default.
  got = tflite_export.tokenize_fn(preprocessing)(
      tf.constant(converted["prompts"]))
  for key, want in converted["ids"].items():
    np.testing.assert_array_equal(got[key].numpy(), want, err_msg=key)


def test_onnx_matches_saved_model_in_onnxruntime(converted):
  import onnxruntime  # pylint: disable=g-import-not-at-top

  def run(name, feeds):
    session = onnxruntime.InferenceSession(
        str(converted["root"] / "onnx" / name),
        providers=["CPUExecutionProvider"])
    return session.run(["embeddings"], {i.name: feeds[i.name]
                                        for i in session.get_inputs()})[0]

  np.testing.assert_allclose(
      run(onnx_export.IMAGE_MODEL, {"images": converted["images"]}),
      converted["want_images"], atol=1e-4)
  np.testing.assert_allclose(run(onnx_export.TEXT_MODEL, converted["ids"]),
                             converted["want_texts"], atol=1e-4)


def test_tf2onnx_leaves_the_tokeniser_ops_unconverted(converted):
  """Why text_encoder.onnx takes token ids (onnx_export's docstring)."""
  import tf2onnx  # pylint: disable=g-import-not-at-top
  tokenize = tflite_export.tokenize_fn(tflite_export.TextPreprocessing(
      ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], 8, True))
  model, _ = tf2onnx.convert.from_function(
      tf.function(tokenize), opset=onnx_export.OPSET,
      input_signature=[tf.TensorSpec([None], tf.string)])
  op_types = {node.op_type for node in model.graph.node}
  # Left in the graph as TensorFlow ops: no ONNX runtime has them.
  assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"} <= op_types
