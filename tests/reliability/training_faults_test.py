"""Training under faults: SIGKILL anywhere, determinism, config errors.

One tiny world (128 pairs, 32 px) and one uninterrupted in-process
reference run (tiny.gin with the two-conv image tower of
`train_worker.conv_image_tower` and a 1-layer BERT, deterministic, 24 steps,
a checkpoint every 2 steps) are shared by the module. The kill test runs
`train_worker.py` (= `official/align/train.py`) as subprocesses on one model
dir and kills each launch once; the other tests run in-process.
"""
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest
import tensorflow as tf

import train_worker  # Registers `conv_image_tower` with gin.
from official.align import gin_utils
from official.align.runtime import steps
from official.align.runtime import trainer
from official.align.checkpoints import compat
from official.align.demo import world as demo_world

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TINY_GIN = os.path.join(REPO, "configs", "tiny.gin")
STEPS = 24
BINDINGS = [
    "TrainConfig.deterministic = True",
    f"TrainConfig.train_steps = {STEPS}",
    "TrainConfig.steps_per_execution = 1",
    "TrainConfig.log_interval = 2",
    "TrainConfig.checkpoint_interval = 2",
    "TrainConfig.max_checkpoints_to_keep = 2",
    "TrainConfig.num_summary_images = 0",
    "TrainConfig.global_batch_size = 8",
    "build_align_model.image_encoder_cls = @conv_image_tower",
    "TextEncoder.embed_dim = 16",
    "TextEncoder.num_layers = 1",
    "TextEncoder.hidden_size = 16",
    "TextEncoder.inner_dim = 32",
]
# Kill points of `train_worker` (see its docstring). "shards" (inside the
# checkpoint write) is always one of the five.
KILL_KINDS = ("shards", "state", "state_tmp", "sweep", "step", "delay")
KILL_SEED = 20261123


def _kill_plan(seed: int = KILL_SEED):
  rng = random.Random(seed)
  kinds = ["shards"] + rng.sample(KILL_KINDS[1:], 4)
  rng.shuffle(kinds)
  plan = []
  for kind in kinds:
    if kind == "step":
      plan.append(f"step:{rng.randint(1, 3)}")
    elif kind == "delay":
      plan.append(f"delay:2:{rng.uniform(0.0, 1.0):.2f}")
    else:
      plan.append(f"{kind}:{rng.randint(1, 2)}")
  return plan


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("world"))
  demo_world.generate(path, num_train=128, num_eval=16, image_size=32,
                      seed=0, num_workers=1, vocab_size=300)
  return path


def _file_bindings(world_dir):
  return [f"AlignTask.train_file_pattern = '{world_dir}/train-*.tfrecord'",
          f"Preprocessing.vocab_file = '{world_dir}/vocab.txt'"]


def _train_in_process(model_dir, world_dir, extra=()):
  gin.clear_config()
  gin_utils.parse_gin([TINY_GIN],
                      BINDINGS + _file_bindings(world_dir) + list(extra))
  try:
    return trainer.train(model_dir)
  finally:
    gin.clear_config()


def _checkpoint_values(prefix):
  """Every tensor of a checkpoint but the iterator state and counters."""
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if "data_iterator" not in k and "save_counter" not in k
          and "OBJECT_GRAPH" not in k}


def _step_of(values):
  (key,) = [k for k in values if k.startswith("optimizer/iter")]
  return int(values[key])


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
  """An uninterrupted deterministic run: (model_dir, final values)."""
  model_dir = str(tmp_path_factory.mktemp("reference"))
  _train_in_process(model_dir, world)
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
  assert latest.endswith(f"ckpt-{STEPS}")
  return model_dir, _checkpoint_values(latest)


def _assert_bit_identical(a, b):
  assert set(a) == set(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_same_seed_is_bit_identical_other_seed_differs(world, reference,
                                                      tmp_path):
  _, expected = reference
  _train_in_process(str(tmp_path / "again"), world)
  again = _checkpoint_values(str(tmp_path / "again" / "checkpoints" /
                                 f"ckpt-{STEPS}"))
  _assert_bit_identical(again, expected)
  _train_in_process(str(tmp_path / "seed1"), world, ["TrainConfig.seed = 1"])
  other = _checkpoint_values(str(tmp_path / "seed1" / "checkpoints" /
                                 f"ckpt-{STEPS}"))
  assert _step_of(other) == STEPS
  weights = [k for k in expected if "optimizer" not in k]
  differing = [k for k in weights if not np.array_equal(other[k], expected[k])]
  # Initialisation and data order both follow the seed: nearly every weight.
  assert len(differing) > 0.9 * len(weights), differing


def _worker_cmd(model_dir, world_dir):
  cmd = [sys.executable, os.path.join(HERE, "train_worker.py"),
         f"--model_dir={model_dir}", f"--gin_file={TINY_GIN}"]
  return cmd + [f"--gin_bindings={b}"
                for b in BINDINGS + _file_bindings(world_dir)]


def test_sigkill_at_five_points_resumes_to_identical_weights(
    world, reference, tmp_path):
  model_dir = str(tmp_path / "killed")
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  cmd = _worker_cmd(model_dir, world)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  plan = _kill_plan()
  assert len(plan) == 5 and any(p.startswith("shards") for p in plan)
  latest, step = None, 0
  for kill_at in plan:
    proc = subprocess.run(cmd, env=dict(env, **{train_worker.KILL_ENV: kill_at}),
                          capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, (kill_at, proc.stderr[-3000:])
    assert "Planned SIGKILL" in proc.stderr
    if latest:  # The launch resumed from the last complete checkpoint.
      assert f"Restored {latest} at step {step}." in proc.stderr, kill_at
    new_latest = tf.train.latest_checkpoint(ckpt_dir)
    if kill_at.startswith("shards"):
      # Killed between writing the data shards and merging them: the
      # unfinished write is on disk, and not what the state file names.
      (temp,) = glob.glob(os.path.join(ckpt_dir, "ckpt-*_temp"))
      assert new_latest != temp[:-len("_temp")]
    if new_latest:
      values = _checkpoint_values(new_latest)  # Loads completely.
      assert _step_of(values) == int(new_latest.rsplit("-", 1)[1])
      assert _step_of(values) >= step
      latest, step = new_latest, _step_of(values)
    assert step < STEPS, f"{kill_at}: the run ended before the kill"
    print(f"killed at {kill_at}: resumable from {latest}")

  proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                        timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"Restored {latest} at step {step}." in proc.stderr
  final = _checkpoint_values(tf.train.latest_checkpoint(ckpt_dir))
  assert _step_of(final) == STEPS
  _assert_bit_identical(final, reference[1])


@pytest.fixture
def no_training(monkeypatch):
  """Fails the test if the training loop is ever built."""
  def refuse(*args, **kwargs):
    raise AssertionError("the training loop was built")
  monkeypatch.setattr(steps, "make_train_loop", refuse)


def _first_line(error):
  """The message; gin may append "In call to configurable ..." lines."""
  lines = str(error).splitlines()
  assert all(l.startswith("  In call to configurable") for l in lines[1:])
  return lines[0]


def test_checkpoint_of_another_architecture_fails_before_training(
    world, reference, tmp_path, no_training):
  model_dir = str(tmp_path / "other")
  shutil.copytree(reference[0], model_dir)
  with pytest.raises(compat.ConfigError) as error:
    _train_in_process(model_dir, world, ["TextEncoder.num_layers = 2"])
  message = _first_line(error.value)
  assert "ckpt-24 does not fit the configured model" in message
  assert "transformer/layer_1/" in message and "not in the checkpoint" in (
      message)
  with pytest.raises(compat.ConfigError,
                     match=r"embeddings has shape \[1000, 16\] in the "
                     r"checkpoint but \[1200, 16\] in the model"):
    _train_in_process(model_dir, world, ["TextEncoder.vocab_size = 1200"])


def test_cli_architecture_error_is_one_line(world, reference, tmp_path):
  """train.py on a model dir of another tower: one line, exit code 1."""
  model_dir = str(tmp_path / "cli")
  shutil.copytree(reference[0], model_dir)
  cmd = [sys.executable, os.path.join(REPO, "official", "align", "train.py"),
         f"--model_dir={model_dir}", f"--gin_file={TINY_GIN}"]
  cmd += [f"--gin_bindings={b}" for b in _file_bindings(world)]
  start = time.time()
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                        check=False, env=dict(os.environ,
                                              TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("train.py: error: Checkpoint "), proc.stderr[-2000:]
  assert "model/image_encoder/" in last
  assert "Traceback" not in proc.stderr
  print(f"CLI error after {time.time() - start:.1f} s")


def test_vocabulary_larger_than_embedding_table_fails_before_training(
    world, tmp_path, no_training):
  vocab = str(tmp_path / "vocab.txt")
  with open(os.path.join(world, "vocab.txt")) as f:
    tokens = f.read().splitlines()
  with open(vocab, "w") as f:
    f.write("\n".join(tokens + [f"extra{i}" for i in range(1500)]) + "\n")
  with pytest.raises(compat.ConfigError) as error:
    _train_in_process(str(tmp_path / "run"), world,
                      [f"Preprocessing.vocab_file = '{vocab}'"])
  message = _first_line(error.value)
  assert f"Vocabulary {vocab} has {len(tokens) + 1500} tokens" in message
  assert "table has 1000 rows" in message


def test_missing_gin_file_and_unknown_binding_are_one_line(tmp_path):
  missing = str(tmp_path / "no_such.gin")
  gin.clear_config()
  with pytest.raises(IOError) as error:
    gin_utils.parse_gin([TINY_GIN, missing], [])
  assert _first_line(error.value) == f"Gin file not found: {missing}"
  gin.clear_config()
  with pytest.raises(ValueError, match="TrainConfig.trian_steps"):
    gin_utils.parse_gin([TINY_GIN], ["TrainConfig.trian_steps = 3"])
  gin.clear_config()
