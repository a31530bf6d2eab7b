"""The run-dir contract: checkpoints, recorded preprocessing, gin isolation."""
import os

import gin
import pytest
import tensorflow as tf

from official.align import gin_utils
from official.align import preprocessing as preprocessing_lib
from official.align import run_dir
from official.align import run_dir_config

OLD_CONFIG = """import official.align.train_lib as official3
build_align_model.image_size = 64
InputReader.image_size = 64
InputReader.resize_size = 68
InputReader.pixel_range = 'symmetric'
InputReader.seq_length = 16
InputReader.shuffle_buffer_size = 2048
TrainConfig.task = None
TrainConfig.vocab_file = '/w/vocab.txt'
TrainConfig.train_file_pattern = '/w/train-*.tfrecord'
TrainConfig.eval_labels_file = '/w/eval_labels.json'
scope/InputReader.seq_length = 8
"""


def _checkpoint(directory, step):
  return tf.train.CheckpointManager(
      tf.train.Checkpoint(v=tf.Variable(1.0)), directory,
      max_to_keep=2).save(checkpoint_number=step)


def test_resolve_checkpoint_from_prefix_checkpoint_dir_or_model_dir(tmp_path):
  model_dir = str(tmp_path / "run")
  prefix = _checkpoint(run_dir.checkpoint_dir(model_dir), 5)
  assert run_dir.latest_checkpoint(model_dir) == prefix
  assert run_dir.resolve_checkpoint(model_dir) == prefix
  assert run_dir.resolve_checkpoint(run_dir.checkpoint_dir(model_dir)) == prefix
  assert run_dir.resolve_checkpoint(prefix) == prefix
  assert run_dir.resolve_checkpoint(model_dir, checkpoint="x/ckpt-1") == (
      "x/ckpt-1")
  for missing in (str(tmp_path), str(tmp_path / "run" / "ckpt-9")):
    with pytest.raises(FileNotFoundError, match="No checkpoint|not found"):
      run_dir.resolve_checkpoint(missing)
    with pytest.raises(ValueError):  # Also a ValueError, for the CLIs.
      run_dir.resolve_checkpoint(missing)


def test_translate_legacy_renames_old_bindings():
  text = run_dir_config.translate_legacy(OLD_CONFIG)
  lines = text.splitlines()
  assert "Preprocessing.image_size = 64" in lines
  assert "Preprocessing.pixel_range = 'symmetric'" in lines
  assert "Preprocessing.vocab_file = '/w/vocab.txt'" in lines
  assert "AlignTask.train_file_pattern = '/w/train-*.tfrecord'" in lines
  assert "build_demo_evaluator.labels_file = '/w/eval_labels.json'" in lines
  assert "AlignTask.evaluator_fn = @build_demo_evaluator" in lines
  assert "scope/Preprocessing.seq_length = 8" in lines
  assert "InputReader.shuffle_buffer_size = 2048" in lines  # Not moved.
  assert not any(l.startswith("TrainConfig.task") for l in lines)
  assert run_dir_config.translate_legacy(text) == text  # New names stay.


def test_read_preprocessing_from_json_or_from_an_old_config(tmp_path):
  old = tmp_path / "old"
  old.mkdir()
  (old / run_dir.OPERATIVE_CONFIG).write_text(OLD_CONFIG)
  assert run_dir.read_preprocessing(str(old)) == (
      preprocessing_lib.Preprocessing.from_dict(dict(
          image_size=64, resize_size=68, pixel_range="symmetric",
          seq_length=16, vocab_file="/w/vocab.txt")))
  new = str(tmp_path / "new")
  recorded = preprocessing_lib.Preprocessing.from_dict(dict(
      image_size=32, resize_size=36, seq_length=12, lower_case=False))
  run_dir.write_run_record(new, "Preprocessing.image_size = 99\n", recorded)
  assert run_dir.read_preprocessing(new) == recorded  # The JSON wins.
  with pytest.raises(FileNotFoundError):
    run_dir.read_preprocessing(str(tmp_path))
  (tmp_path / "new" / run_dir.PREPROCESSING_FILE).write_text('{"size": 3}')
  with pytest.raises(ValueError, match="unknown fields"):
    run_dir.read_preprocessing(new)


def test_isolated_config_restores_the_callers_config():
  gin.clear_config()
  gin.parse_config("Preprocessing.image_size = 77")
  assert preprocessing_lib.Preprocessing().image_size == 77  # Operative.
  gin.finalize()
  before = (gin.config_str(), gin.operative_config_str())
  with gin_utils.isolated_config():
    assert not gin.config_is_locked()
    assert preprocessing_lib.Preprocessing().image_size == 289
    gin.parse_config("Preprocessing.image_size = 11\nimport "
                     "official.align.modeling.align_model")
    assert preprocessing_lib.Preprocessing().image_size == 11
  assert (gin.config_str(), gin.operative_config_str()) == before
  assert gin.config_is_locked()
  assert preprocessing_lib.Preprocessing().image_size == 77
  gin.clear_config()


def test_preprocessing_is_validated_and_round_trips():
  with pytest.raises(ValueError, match="pixel_range"):
    preprocessing_lib.Preprocessing.from_dict({"pixel_range": "0-255"})
  value = preprocessing_lib.Preprocessing.from_dict({"seq_length": 9})
  import json  # pylint: disable=g-import-not-at-top
  assert preprocessing_lib.Preprocessing.from_dict(
      json.loads(value.to_json())) == value
  assert os.path.basename(run_dir.PREPROCESSING_FILE) == "preprocessing.json"


def test_old_binding_in_a_users_gin_file_names_its_new_owner(tmp_path):
  config = tmp_path / "mine.gin"
  config.write_text("import official.align.dataloaders.input_reader\n"
                    "InputReader.image_size = 64\n")
  gin.clear_config()
  try:
    with pytest.raises(ValueError, match=r"InputReader.image_size is now "
                       r"Preprocessing.image_size"):
      gin_utils.parse_gin([str(config)], [])
    gin.clear_config()
    # The same binding on the command line is translated.
    gin_utils.parse_gin([], ["InputReader.image_size = 64"])
    assert preprocessing_lib.Preprocessing().image_size == 64
  finally:
    gin.clear_config()
