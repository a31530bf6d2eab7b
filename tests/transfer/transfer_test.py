"""Transfer: classification reader, linear probe and fine-tuning via the trainer.

A tiny separable task (three colours with pixel noise, 32 px, ImageFolder
and TFRecord) and a tiny ALIGN checkpoint with the two-conv test tower are
shared by the module; both runs go through `runtime.trainer.train` with
configs/linear_probe_tiny.gin.
"""
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from official.align import gin_utils
from official.align import run_dir
from official.align.runtime import trainer
from official.align.tasks import align_task
from official.align.dataloaders import input_reader
from official.align.transfer import classification_input

import tiny_models

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
COLOURS = {"blue": (30, 60, 220), "green": (40, 200, 60), "red": (220, 40, 40)}
CONFIG = os.path.join(REPO, "configs", "linear_probe_tiny.gin")


@gin.configurable("transfer_test_conv_tower")
def _conv_tower():
  return tiny_models.conv_image_encoder()


def _write_colour_folder(directory, per_class, seed):
  rng = np.random.default_rng(seed)
  for name, rgb in COLOURS.items():
    os.makedirs(os.path.join(directory, name))
    for i in range(per_class):
      pixels = np.clip(np.array(rgb) + rng.integers(-60, 60, (32, 32, 3)),
                       0, 255).astype(np.uint8)
      tf.io.write_file(os.path.join(directory, name, f"{i}.png"),
                       tf.io.encode_png(pixels))


def _example(image_bytes, label):
  return tf.train.Example(features=tf.train.Features(feature={
      "image/encoded": tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[image_bytes])),
      "image/class/label": tf.train.Feature(
          int64_list=tf.train.Int64List(value=[label])),
  })).SerializeToString()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("colours"))
  _write_colour_folder(os.path.join(root, "train"), per_class=16, seed=0)
  _write_colour_folder(os.path.join(root, "eval"), per_class=8, seed=1)
  # The eval folder as TFRecords, 1-based labels (ImageNet convention).
  _, paths, labels = classification_input.list_image_folder(
      os.path.join(root, "eval"))
  with tf.io.TFRecordWriter(os.path.join(root, "eval.tfrecord")) as w:
    for path, label in zip(paths, labels):
      w.write(_example(tf.io.read_file(path).numpy(), label + 1))
  return root


@pytest.fixture(scope="module")
def align_run(tmp_path_factory):
  """An ALIGN model dir (conv test tower) and its image tower's weights."""
  model_dir = str(tmp_path_factory.mktemp("align"))
  tf.keras.utils.set_random_seed(0)
  model = tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder())
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model),
      os.path.join(model_dir, run_dir.CHECKPOINT_SUBDIR), max_to_keep=1)
  manager.save(checkpoint_number=7)
  return model_dir, [v.numpy() for v in model.image_encoder.variables]


def _reader(source, is_training=False, **kwargs):
  kwargs = dict(dict(image_size=32, resize_size=32, deterministic=True),
                **kwargs)
  return classification_input.ClassificationInputReader(
      source, 64, is_training=is_training, **kwargs)


def test_image_folder_and_tfrecords_give_the_same_examples(data):
  folder = _reader(os.path.join(data, "eval"))
  assert folder.class_names == sorted(COLOURS)
  assert folder.num_classes == 3
  records = _reader(os.path.join(data, "eval.tfrecord"), label_offset=-1,
                    num_classes=3)
  a, b = next(iter(folder(None))), next(iter(records(None)))
  np.testing.assert_array_equal(a["label"], np.repeat([0, 1, 2], 8))
  np.testing.assert_array_equal(a["label"], b["label"])
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].shape == (24, 32, 32, 3)
  assert float(tf.reduce_min(a["image"])) >= 0.0
  np.testing.assert_array_equal(a["skipped_records"], 0)
  # Training: shuffled, repeated, sharded per input pipeline.
  context = tf.distribute.InputContext(num_input_pipelines=2,
                                       input_pipeline_id=1,
                                       num_replicas_in_sync=2)
  batch = next(iter(_reader(os.path.join(data, "train"), True)(context)))
  assert batch["image"].shape == (32, 32, 32, 3)


def test_bad_inputs_are_counted_or_named(data, tmp_path):
  folder = str(tmp_path / "folder")
  _write_colour_folder(folder, per_class=2, seed=2)
  # Counted at the next good image (the gap in the numbering).
  tf.io.write_file(os.path.join(folder, "blue", "0_broken.jpg"), b"\xff\xd8junk")
  batch = next(iter(_reader(folder)(None)))
  assert batch["label"].shape == (6,)
  decode_error = input_reader.SKIP_REASONS.index("decode_error")
  assert int(batch["skipped_records"][decode_error]) == 1
  with pytest.raises(ValueError, match="num_classes=5"):
    _reader(folder, num_classes=5)
  with pytest.raises(ValueError, match="no class sub-directories"):
    _reader(str(tmp_path))
  labels_too_large = _reader(os.path.join(data, "eval.tfrecord"),
                             num_classes=3)  # 1-based labels, no offset.
  with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
    next(iter(labels_too_large(None)))


def _train(model_dir, data, align_dir, extra):
  gin.clear_config()
  gin_utils.parse_gin([CONFIG], [
      f"ClassificationTask.train_data = '{data}/train'",
      f"ClassificationTask.eval_data = '{data}/eval.tfrecord'",
      "ClassificationInputReader.label_offset = -1",
      "build_classifier_model.num_classes = 3",
      "build_classifier_model.image_encoder_cls = @transfer_test_conv_tower",
      f"build_classifier_model.init_checkpoint = '{align_dir}'",
      "Preprocessing.resize_size = 32",
      "TrainConfig.global_batch_size = 12",
      "TrainConfig.deterministic = True",
      "TrainConfig.num_summary_images = 2",
  ] + extra)
  try:
    return trainer.train(model_dir)
  finally:
    gin.clear_config()


def test_linear_probe_keeps_the_tower_and_learns(data, align_run, tmp_path):
  align_dir, tower_weights = align_run
  steps = 80
  result = _train(str(tmp_path), data, align_dir, [
      f"TrainConfig.train_steps = {steps}",
      f"TrainConfig.eval_interval = {steps}",
      "TrainConfig.log_interval = 10",
      f"TrainConfig.checkpoint_interval = {steps}"])
  model = result["model"]
  assert result["step"] == steps
  assert not model.image_encoder.trainable_weights
  # Frozen: weights and BatchNorm statistics bit-identical to the ALIGN run.
  for v, w in zip(model.image_encoder.variables, tower_weights):
    np.testing.assert_array_equal(v.numpy(), w, err_msg=v.name)
  assert np.any(model.head.kernel.numpy() != 0)
  # Three classes (chance 1/3), held-out images.
  assert result["eval"]["top1_accuracy"] >= 0.8, result["eval"]
  assert result["eval"]["top5_accuracy"] == 1.0
  assert tf.train.latest_checkpoint(
      os.path.join(str(tmp_path), run_dir.CHECKPOINT_SUBDIR)).endswith(
          f"ckpt-{steps}")


def test_finetuning_trains_the_tower(data, align_run, tmp_path):
  align_dir, tower_weights = align_run
  result = _train(str(tmp_path), data, align_dir, [
      "configure_towers.lock_image_tower = False",
      "TrainConfig.train_steps = 3", "TrainConfig.eval_interval = 0",
      "TrainConfig.log_interval = 3", "TrainConfig.checkpoint_interval = 3"])
  tower = result["model"].image_encoder
  assert tower.trainable_weights
  changed = {v.name: bool(np.any(v.numpy() != w))
             for v, w in zip(tower.variables, tower_weights)}
  assert all(changed.values()), changed  # Incl. BatchNorm statistics.
  assert np.isfinite(result["loss"])


def test_transfer_configs_parse(tmp_path):
  """Every transfer/recipe config parses and picks its task."""
  from official.align.tasks import classification_task  # pylint: disable=g-import-not-at-top
  cases = {
      "linear_probe_imagenet_b7.gin": classification_task.ClassificationTask,
      "finetune_imagenet_b7.gin": classification_task.ClassificationTask,
      "retrieval_finetune_flickr30k.gin": align_task.AlignTask,
  }
  for name, task_cls in cases.items():
    gin.clear_config()
    try:
      gin_utils.parse_gin([os.path.join(REPO, "configs", name)], [
          f"ClassificationTask.train_data = '{tmp_path}'"])
      config = trainer.TrainConfig()
      assert isinstance(config.task, task_cls), name
    finally:
      gin.clear_config()
  with pytest.raises(ValueError, match="No checkpoint"):
    run_dir.resolve_checkpoint(str(tmp_path))
