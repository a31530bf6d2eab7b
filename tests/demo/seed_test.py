"""`make demo` is seeded: a seed fixes the initialisation and input order."""
import os

import gin
import numpy as np
import pytest

from official.align import gin_utils
from official.align.demo import driver
from official.align.demo import world as demo_world
from official.align.runtime import config as config_lib
from official.align.runtime import trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("seed") / "world")
  demo_world.generate(path, num_train=64, num_eval=8, image_size=32, seed=0,
                      num_workers=1, vocab_size=300)
  return path


def _start(world_dir, seed):
  """(initial weights, first two batches' keys) of the demo config."""
  gin.clear_config()
  gin_utils.parse_gin(
      [driver.DEFAULT_GIN_FILE, os.path.join(REPO, "configs", "tiny.gin")],
      [f"TrainConfig.seed = {seed}", "TrainConfig.global_batch_size = 8",
       "InputReader.shuffle_buffer_size = 64",
       f"AlignTask.train_file_pattern = '{world_dir}/train-*.tfrecord'",
       f"Preprocessing.vocab_file = '{world_dir}/vocab.txt'"])
  try:
    config = config_lib.TrainConfig()
    assert config.deterministic  # demo.gin
    trainer._seed(config)  # pylint: disable=protected-access
    model = config.task.build_model()
    weights = [v.numpy() for v in model.variables]
    reader = config.task.build_inputs(config)
    batches = iter(reader(None))
    images = [next(batches)["image"].numpy() for _ in range(2)]
    return weights, images
  finally:
    gin.clear_config()


def test_same_seed_same_start_other_seed_other_start(world):
  weights, images = _start(world, 3)
  again_weights, again_images = _start(world, 3)
  other_weights, other_images = _start(world, 4)
  for a, b in zip(weights, again_weights):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(images, again_images):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(weights, other_weights)
             if a.size > 1)
  assert any(not np.array_equal(a, b) for a, b in zip(images, other_images))
