"""Zero-shot evaluation: prompt data files, ensembling maths, per-class
tables, and the three dataset readers (image folder, prepared local TFDS
builder, TFRecords) with a transparent colour embedder (no model): images
embed as their mean colour, texts as the colour word they contain."""
import io
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.align.evaluation import classification_data
from official.align.inference import embedder as embedder_lib
from official.align.evaluation import prompts
from official.align.evaluation import zero_shot
from official.align.evaluation import zero_shot_eval

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0),
           "blue": (0.0, 0.0, 1.0)}


def _png(rgb, size=12):
  buf = io.BytesIO()
  Image.new("RGB", (size, size), tuple(int(255 * v) for v in rgb)).save(
      buf, "PNG")
  return buf.getvalue()


def _colour_embedder():
  """Images → mean RGB - 1/3; texts → the RGB of their colour word - 1/3."""

  def images_from_bytes(batch):
    return np.stack([np.asarray(tf.io.decode_image(b, channels=3), np.float32)
                     .mean(axis=(0, 1)) / 255.0 - 1 / 3
                     for b in batch.numpy()])

  def texts(batch):
    out = []
    for text in batch.numpy():
      words = [w for w in text.decode("utf-8").replace(".", " ").split()
               if w in COLOURS]
      out.append(np.array(COLOURS[words[0]]) - 1 / 3)
    return np.stack(out).astype(np.float32)

  return embedder_lib.Embedder(
      encode_texts=texts,
      encode_images=lambda x: x.numpy().mean(axis=(1, 2)) - 1 / 3,
      encode_image_bytes=images_from_bytes, source="colours", batch_size=4)


# Class 0 red (3 images), 1 green (2), 2 blue (2); one blue image is
# almost green, so the per-class table has a miss.
EXAMPLES = [("red", (1, 0, 0)), ("red", (0.9, 0.1, 0)), ("red", (1, 0.2, 0.1)),
            ("green", (0, 1, 0)), ("green", (0.1, 0.8, 0.1)),
            ("blue", (0, 0, 1)), ("blue", (0, 0.6, 0.5))]
CLASSES = ["red", "green", "blue"]


def _check_result(result, num_skipped=0):
  metrics = result["metrics"]
  assert metrics["num_examples"] == 7
  assert metrics["num_skipped"] == num_skipped
  assert metrics["top1"] == pytest.approx(6 / 7)
  assert "top5" not in metrics  # Only 3 classes.
  per_class = result["per_class"]
  np.testing.assert_array_equal(per_class["count"], [3, 2, 2])
  np.testing.assert_allclose(per_class["top1"], [1.0, 1.0, 0.5])
  table = zero_shot_eval.per_class_table(result).splitlines()
  assert table[0] == "class\tcount\ttop1"
  assert table[3] == "blue\t2\t50.0"


def test_builtin_class_names_and_templates():
  names = prompts.class_names("imagenet")
  assert len(names) == 1000 and len(set(names)) == 1000
  assert (names[0], names[1], names[291], names[999]) == (
      "tench", "goldfish", "lion", "toilet paper")
  templates = prompts.templates("imagenet")
  assert len(templates) == 80 and len(set(templates)) == 80
  assert "a photo of a {}." in templates
  demo = prompts.templates("demo_world")
  assert len(demo) >= 5 and all(t.count("{}") == 1 for t in demo)
  assert prompts.class_names("demo_world")[0] == "red circle"
  with pytest.raises(FileNotFoundError, match="no_such_file"):
    prompts.templates("/no_such_file.txt")
  with pytest.raises(ValueError, match="exactly one"):
    prompts.check_templates(["a photo"])


def test_data_files_are_package_data():
  """setup.py's package_data glob covers the shipped lists."""
  import ast  # pylint: disable=g-import-not-at-top
  import glob  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  with open(os.path.join(repo, "setup.py")) as f:
    tree = ast.parse(f.read())
  package_data = next(
      ast.literal_eval(k.value) for node in ast.walk(tree)
      if isinstance(node, ast.Call) for k in node.keywords
      if k.arg == "package_data")
  root = os.path.join(repo, "official", "align")
  shipped = {os.path.relpath(p, root)
             for pattern in package_data["official.align"]
             for p in glob.glob(os.path.join(root, pattern), recursive=True)}
  for name in ("imagenet_class_names.txt", "imagenet_templates.txt"):
    assert os.path.join("evaluation", "data", name) in shipped
  assert os.path.join("demo", "templates.txt") in shipped  # demo_world's.


def test_text_classifier_ensembles_normalised_prompts():
  prompt_vectors = {"a red": [3.0, 0.0], "the red": [0.0, 1.0],
                    "a blue": [0.0, 2.0], "the blue": [0.0, 7.0]}
  got = zero_shot.text_classifier(
      lambda texts: np.array([prompt_vectors[t] for t in texts]),
      ["red", "blue"], ["a {}", "the {}"])
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, [[2 ** -0.5, 2 ** -0.5], [0.0, 1.0]],
                             rtol=1e-6)
  single = zero_shot.text_classifier(
      lambda texts: np.array([prompt_vectors[t] for t in texts]),
      ["red", "blue"], ["a {}"])
  np.testing.assert_allclose(single, [[1.0, 0.0], [0.0, 1.0]])


def test_top_k_hits_and_per_class_accuracy():
  predictions = np.array([[0, 1], [1, 0], [2, 0], [0, 2]])
  labels = np.array([0, 0, 0, 2])
  np.testing.assert_array_equal(zero_shot.top_k_hits(predictions, labels, 1),
                                [True, False, False, False])
  np.testing.assert_array_equal(zero_shot.top_k_hits(predictions, labels, 2),
                                [True, True, True, True])
  per_class = zero_shot.per_class_accuracy(predictions, labels, 4, ks=(1, 2))
  np.testing.assert_array_equal(per_class["count"], [3, 0, 1, 0])
  np.testing.assert_allclose(per_class["top1"], [1 / 3, np.nan, 0.0, np.nan])
  np.testing.assert_allclose(per_class["top2"], [1.0, np.nan, 1.0, np.nan])
  with pytest.raises(ValueError):
    zero_shot.top_k_hits(predictions, labels, 3)


def test_image_folder(tmp_path):
  for i, (name, rgb) in enumerate(EXAMPLES):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / f"{i}.png").write_bytes(_png(rgb))
  (tmp_path / "red" / "notes.txt").write_text("not an image")
  (tmp_path / "green" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
  source = classification_data.parse_dataset(f"folder:{tmp_path}")
  assert source.class_names == ["blue", "green", "red"]
  assert source.num_ignored_files == 1
  result = zero_shot_eval.evaluate(
      _colour_embedder(), source, ["a photo of a {}."],
      class_names=["blue", "green", "red"], batch_size=3)
  assert result["metrics"]["num_skipped"] == 1
  assert result["metrics"]["top1"] == pytest.approx(6 / 7)
  assert result["metrics"]["num_examples"] == 7
  with pytest.raises(FileNotFoundError, match="nowhere"):
    classification_data.parse_dataset(f"folder:{tmp_path}/nowhere")
  with pytest.raises(ValueError, match="KIND"):
    classification_data.parse_dataset(str(tmp_path))


def test_tfrecords_with_offset_labels_and_max_examples(tmp_path):
  path = str(tmp_path / "val-00000.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for name, rgb in EXAMPLES:
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          "jpeg": tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[_png(rgb)])),
          "cls": tf.train.Feature(int64_list=tf.train.Int64List(
              value=[CLASSES.index(name) + 1])),
      })).SerializeToString())
  source = classification_data.parse_dataset(
      f"tfrecord:{tmp_path}/val-*", class_names=CLASSES, image_key="jpeg",
      label_key="cls", label_offset=-1)
  _check_result(zero_shot_eval.evaluate(_colour_embedder(), source,
                                        ["{}", "a {}"], batch_size=2))
  short = zero_shot_eval.evaluate(_colour_embedder(), source, ["{}"],
                                  batch_size=2, max_examples=3)
  assert short["metrics"]["num_examples"] == 3
  wrong = classification_data.parse_dataset(
      f"tfrecord:{tmp_path}/val-*", class_names=CLASSES, image_key="jpeg",
      label_key="cls")
  with pytest.raises(ValueError, match="label_offset"):
    zero_shot_eval.evaluate(_colour_embedder(), wrong, ["{}"])
  with pytest.raises(ValueError, match="class names"):
    classification_data.parse_dataset(f"tfrecord:{tmp_path}/val-*")


def test_prepared_local_tfds_builder(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class TinyColours(tfds.core.GeneratorBasedBuilder):
    """Seven coloured squares, three classes (built locally by the test)."""
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=tfds.features.FeaturesDict({
              "image": tfds.features.Image(shape=(12, 12, 3)),
              "label": tfds.features.ClassLabel(names=CLASSES)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {"validation": self._generate_examples()}

    def _generate_examples(self):
      for i, (name, rgb) in enumerate(EXAMPLES):
        pixels = np.full((12, 12, 3), np.array(rgb) * 255, np.uint8)
        yield i, {"image": pixels, "label": name}

  data_dir = str(tmp_path / "tfds")
  with pytest.raises(FileNotFoundError, match="not prepared"):
    classification_data.TfdsSource("tiny_colours", data_dir=str(tmp_path))
  TinyColours(data_dir=data_dir).download_and_prepare()
  source = classification_data.parse_dataset("tfds:tiny_colours",
                                              tfds_data_dir=data_dir)
  assert source.split == "validation" and source.num_examples == 7
  assert source.class_names == CLASSES
  _check_result(zero_shot_eval.evaluate(_colour_embedder(), source,
                                        ["a photo of a {}."], batch_size=4))
  with pytest.raises(ValueError, match="no split"):
    classification_data.TfdsSource("tiny_colours", data_dir, split="train")
