"""A run dir written by the old layout still exports, evaluates and resumes.

tests/compat/old_layout_run/ was written by the code before the
runtime/task split (commit 7157357, `official.align.train_lib`): configs/
tiny.gin + demo.gin + tiny.gin, 2 steps of batch 4 on the demo world
`generate(WORLD, num_train=32, num_eval=16, image_size=32, seed=0,
num_workers=1, vocab_size=300)` with `TextEncoder.vocab_size = 300`,
`TrainConfig.checkpoint_data_iterator = False` and the demo world's eval
split bound. Its operative_config.gin imports `official.align.train_lib`
and binds the old names (`TrainConfig.vocab_file`,
`TrainConfig.train_file_pattern`, `InputReader.image_size`,
`build_align_model.seq_length`, ...); the world's paths are replaced by
@WORLD@ here, and the test regenerates that world (deterministic).
"""
import os
import shutil
import subprocess
import sys

import gin
import numpy as np
import pytest

from official.align import run_dir
from official.align.demo import world as demo_world
from official.align.evaluation import classification_data
from official.align.evaluation import zero_shot_eval
from official.align.inference import loaders
from official.align.serving import export_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "old_layout_run")


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
  """(run dir, world dir): the fixture with its world regenerated."""
  root = tmp_path_factory.mktemp("old_run")
  world = str(root / "world")
  demo_world.generate(world, num_train=32, num_eval=16, image_size=32,
                      seed=0, num_workers=1, vocab_size=300)
  model_dir = str(root / "model")
  shutil.copytree(FIXTURE, model_dir)
  config = os.path.join(model_dir, "operative_config.gin")
  with open(config) as f:
    text = f.read()
  assert "import official.align.train_lib" in text
  with open(config, "w") as f:
    f.write(text.replace("@WORLD@", world))
  return model_dir, world


def test_old_run_dir_records_its_preprocessing(old_run):
  model_dir, world = old_run
  preprocessing = run_dir.read_preprocessing(model_dir)
  assert (preprocessing.image_size, preprocessing.resize_size,
          preprocessing.pixel_range, preprocessing.seq_length,
          preprocessing.lower_case) == (32, 36, "unit", 16, True)
  assert preprocessing.vocab_file == os.path.join(world, "vocab.txt")


def test_old_run_dir_exports_and_evaluates(old_run, tmp_path):
  model_dir, world = old_run
  gin.clear_config()
  gin.parse_config("ImageEncoder.width_scale = 0.75")  # Not the run's.
  before = gin.config_str()
  export_lib.export(model_dir, str(tmp_path / "export"))
  with open(tmp_path / "export" / "README.md") as f:
    readme = f.read()
  assert "truncated to 16 tokens" in readme
  assert "central\n  32×32 crop" in readme or "32×32 crop" in readme
  hub = loaders.from_hub_dir(str(tmp_path / "export"))
  direct = loaders.from_model_dir(model_dir)
  assert gin.config_str() == before  # Loading left the caller's config.
  texts = ["a red circle", "a blue star"]
  np.testing.assert_allclose(hub.embed_texts(texts),
                             direct.embed_texts(texts), atol=1e-5)
  source = classification_data.parse_dataset(f"demo_world:{world}")
  result = zero_shot_eval.evaluate(direct, source, ["a {}"], ks=(1, 5))
  assert result["metrics"]["num_examples"] == 16
  assert 0.0 <= result["metrics"]["top5"] <= 1.0


def test_old_run_dir_resumes_with_train_py(old_run):
  model_dir, _ = old_run
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "official", "align", "train.py"),
       f"--gin_file={model_dir}/operative_config.gin",
       "--gin_bindings=TrainConfig.train_steps = 4",
       f"--model_dir={model_dir}"],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Restored" in result.stderr and "at step 2" in result.stderr
  assert run_dir.latest_checkpoint(model_dir).endswith("ckpt-4")
  with open(os.path.join(model_dir, "operative_config.gin")) as f:
    resumed = f.read()
  # The resumed run writes the new names.
  assert "Preprocessing.seq_length = 16" in resumed
  assert "TrainConfig.vocab_file" not in resumed
