"""End-to-end tests of the trainer, train.py and the demo on a tiny world.

One tiny demo world (256 pairs, 32 px) and one deterministic in-process
demo run (configs/demo.gin + configs/tiny.gin, 12 steps) are shared by the
module; the other tests compare against that run.
"""
import glob
import os
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest
import tensorflow as tf

from official.align.demo import driver as demo
from official.align import gin_utils
from official.align.runtime import trainer
from official.align.demo import world as demo_world
from official.align.serving import export_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GIN_FILES = [os.path.join(REPO, "configs", "demo.gin"),
             os.path.join(REPO, "configs", "tiny.gin")]
STEPS = 12
# Deterministic, short, fast-learning; same for in-process and subprocesses.
BINDINGS = [
    "TrainConfig.deterministic = True",
    f"TrainConfig.train_steps = {STEPS}",
    "TrainConfig.steps_per_execution = 2",
    "TrainConfig.log_interval = 4",
    "TrainConfig.checkpoint_interval = 4",
    "TrainConfig.max_checkpoints_to_keep = 5",
    "TrainConfig.eval_interval = 0",
    "TrainConfig.eval_batch_size = 64",
    "TrainConfig.global_batch_size = 16",
    "build_learning_rate.peak_learning_rate = 3e-3",
    "build_learning_rate.warmup_steps = 2",
    "build_learning_rate.total_steps = 100",
    "AlignModel.temperature_init = 0.1",
]
SCALARS = ("loss", "image_to_text_accuracy", "text_to_image_accuracy",
           "temperature", "learning_rate", "gradient_norm",
           "examples_per_second", "skipped_records/decode_error",
           "skipped_records/empty_caption")


def _parse(extra=()):
  gin.clear_config()
  gin_utils.parse_gin(GIN_FILES, BINDINGS + list(extra))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("demo"))
  demo_world.generate(os.path.join(path, "world"), num_train=256,
                      num_eval=48, image_size=32, seed=0, num_workers=1,
                      vocab_size=300)
  return path


@pytest.fixture(scope="module")
def demo_result(workdir):
  """The demo's whole code path, on the tiny world and tiny model."""
  _parse()
  try:
    return demo.run_demo(workdir, num_figure_images=4)
  finally:
    gin.clear_config()


def _file_bindings(workdir):
  world = os.path.join(workdir, "world")
  return [
      f"AlignTask.train_file_pattern = '{world}/train-*.tfrecord'",
      f"Preprocessing.vocab_file = '{world}/vocab.txt'",
  ]


def _scalars(event_dir):
  out = {}
  for path in glob.glob(os.path.join(event_dir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField("tensor") and value.metadata.plugin_data.plugin_name \
            == "scalars":
          out.setdefault(value.tag, {})[event.step] = float(
              tf.make_ndarray(value.tensor))
  return out


def _tags(event_dir):
  tags = set()
  for path in glob.glob(os.path.join(event_dir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def _checkpoint_values(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k)
          for k in reader.get_variable_to_shape_map()
          if "data_iterator" not in k and "save_counter" not in k
          and "OBJECT_GRAPH" not in k}


def test_demo_code_path(demo_result, workdir):
  metrics = demo_result["metrics"]
  for key in ("zero_shot_top1_seen", "zero_shot_top1_held_out",
              "image_to_text_R@10", "text_to_image_R@1"):
    assert 0.0 <= metrics[key] <= 1.0
  assert demo_result["info"]["training steps"] == STEPS
  assert "held-out pairs" in demo_result["table"]
  assert os.path.getsize(os.path.join(workdir, "zero_shot.png")) > 1000
  assert os.path.exists(os.path.join(workdir, "results.json"))


def test_demo_model_dir_exports(demo_result, workdir, tmp_path):
  """`make demo` exports from the demo's model dir: the operative config
  must carry everything the exporter reads (the vocabulary above all)."""
  del demo_result  # Only its side effect, the trained model dir, is used.
  model_dir = os.path.join(workdir, "model")
  with open(os.path.join(model_dir, "operative_config.gin")) as f:
    assert "Preprocessing.vocab_file" in f.read()
  try:
    export_lib.export(model_dir, str(tmp_path / "export"))
  finally:
    gin.clear_config()
  for module in ("image_encoder", "text_encoder", "text_preprocessor"):
    assert tf.saved_model.contains_saved_model(str(tmp_path / "export" /
                                                   module))


def test_short_run_summaries_and_loss_decreases(demo_result, workdir):
  del demo_result
  model_dir = os.path.join(workdir, "model")
  scalars = _scalars(os.path.join(model_dir, "train"))
  for tag in SCALARS:
    assert sorted(scalars[tag]) == [4, 8, 12], tag
  loss = scalars["loss"]
  assert loss[12] < loss[4]
  assert np.isfinite(scalars["gradient_norm"][12])
  assert scalars["skipped_records/decode_error"][12] == 0
  tags = _tags(os.path.join(model_dir, "train"))
  assert {"operative_config", "train_examples"} <= tags
  with open(os.path.join(model_dir, "operative_config.gin")) as f:
    operative = f.read()
  assert "TrainConfig.train_steps = 12" in operative
  assert "ImageEncoder.width_scale = 0.25" in operative
  assert tf.train.latest_checkpoint(
      os.path.join(model_dir, "checkpoints")).endswith("ckpt-12")


def _train_cmd(workdir, model_dir, extra=()):
  cmd = [sys.executable, os.path.join(REPO, "official", "align", "train.py"),
         f"--model_dir={model_dir}"]
  cmd += [f"--gin_file={f}" for f in GIN_FILES]
  cmd += [f"--gin_bindings={b}"
          for b in BINDINGS + _file_bindings(workdir) + list(extra)]
  return cmd


def _wait_for(predicate, proc, timeout=240):
  start = time.time()
  while not predicate():
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.time() - start < timeout, "timed out"
    time.sleep(0.05)


def test_sigterm_then_sigkill_then_resume_matches_uninterrupted(
    demo_result, workdir, tmp_path):
  del demo_result
  model_dir = str(tmp_path / "run")
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  # 1. SIGTERM once the step-4 checkpoint exists (a longer run, same
  # schedule): checkpoint at the current step, exit code 0.
  slow = ["TrainConfig.steps_per_execution = 1",
          "TrainConfig.train_steps = 1000"]
  proc = subprocess.Popen(_train_cmd(workdir, model_dir, slow), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  _wait_for(lambda: (tf.train.latest_checkpoint(ckpt_dir) or "").endswith(
      "ckpt-4"), proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=240)
  assert proc.returncode == 0, err[-3000:]
  latest = tf.train.latest_checkpoint(ckpt_dir)
  stopped_at = int(latest.rsplit("-", 1)[1])
  assert f"Done at step {stopped_at} (preempted: True)" in err
  assert 4 <= stopped_at < STEPS, err[-3000:]

  # 2. Resume, SIGKILL right after the next interval checkpoint.
  next_ckpt = (stopped_at // 4 + 1) * 4
  if next_ckpt < STEPS:
    proc = subprocess.Popen(_train_cmd(workdir, model_dir), env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: tf.train.latest_checkpoint(ckpt_dir).endswith(
        f"ckpt-{next_ckpt}"), proc)
    proc.kill()
    proc.communicate()
    # The latest checkpoint is loadable after the kill.
    assert _checkpoint_values(tf.train.latest_checkpoint(ckpt_dir))

  # 3. Resume to the end: same weights, slots, step as uninterrupted.
  result = subprocess.run(_train_cmd(workdir, model_dir), env=env,
                          capture_output=True, text=True, timeout=300,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Restored" in result.stderr
  resumed = _checkpoint_values(tf.train.latest_checkpoint(ckpt_dir))
  reference = _checkpoint_values(os.path.join(workdir, "model",
                                              "checkpoints", f"ckpt-{STEPS}"))
  assert set(resumed) == set(reference)
  step_key = [k for k in reference if k.startswith("optimizer/iter")][0]
  assert resumed[step_key] == reference[step_key] == STEPS
  assert any("temperature" in k for k in reference)
  for k in reference:
    np.testing.assert_allclose(resumed[k], reference[k], rtol=1e-5,
                               atol=1e-7, err_msg=k)


def test_unknown_binding_fails_before_work(workdir, tmp_path):
  model_dir = str(tmp_path / "bad")
  result = subprocess.run(
      _train_cmd(workdir, model_dir, ["TrainConfig.trian_steps = 3"]),
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode != 0
  assert "trian_steps" in result.stderr
  assert not os.path.exists(model_dir)
  with pytest.raises(ValueError, match="trian_steps"):
    gin.clear_config()
    gin_utils.parse_gin(GIN_FILES, ["TrainConfig.trian_steps = 3"])
  gin.clear_config()
  with pytest.raises(IOError):
    gin_utils.parse_gin(["configs/no_such_file.gin"], [])
  gin.clear_config()


def test_nan_loss_stops_with_step_and_no_checkpoint(workdir, tmp_path):
  # Temperature 0 makes every logit ±inf/nan from the first step.
  _parse(_file_bindings(workdir) + ["AlignModel.temperature_init = 0.0",
                                    "TrainConfig.num_summary_images = 0"])
  model_dir = str(tmp_path / "nan")
  try:
    with pytest.raises(trainer.NonFiniteLossError, match="at step 1;"):
      trainer.train(model_dir)
  finally:
    gin.clear_config()
  assert tf.train.latest_checkpoint(
      os.path.join(model_dir, "checkpoints")) is None


def _write_webdataset_shards(workdir):
  """The world's training pairs as tar shards written by webdataset."""
  import webdataset as wds  # pylint: disable=import-outside-toplevel
  world = os.path.join(workdir, "world")
  out = os.path.join(workdir, "wds")
  os.makedirs(out, exist_ok=True)
  records = tf.data.TFRecordDataset(
      sorted(glob.glob(os.path.join(world, "train-*.tfrecord"))))
  with wds.ShardWriter(os.path.join(out, "train-%03d.tar"), maxcount=64,
                       verbose=0) as sink:
    for i, raw in enumerate(records.as_numpy_iterator()):
      feature = tf.train.Example.FromString(raw).features.feature
      sink.write({"__key__": f"{i:06d}",
                  "jpg": feature["jpg"].bytes_list.value[0],
                  "txt": feature["txt"].bytes_list.value[0].decode(),
                  "json": {"key": i}})
  return os.path.join(out, "train-*.tar")


def test_webdataset_training_checkpoints_takes_sigterm_and_resumes(
    workdir, tmp_path):
  pattern = _write_webdataset_shards(workdir)
  model_dir = str(tmp_path / "wds_run")
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  wds_bindings = [f"AlignTask.train_file_pattern = '{pattern}'",
                  "InputReader.shard_format_name = 'webdataset'",
                  "TrainConfig.steps_per_execution = 1"]
  # Past two checkpoints (steps 4 and 8), then SIGTERM.
  proc = subprocess.Popen(
      _train_cmd(workdir, model_dir,
                 wds_bindings + ["TrainConfig.train_steps = 1000"]),
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  _wait_for(lambda: (tf.train.latest_checkpoint(ckpt_dir) or "").endswith(
      "ckpt-8"), proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=240)
  assert proc.returncode == 0, err[-3000:]
  assert "cannot be checkpointed" in err
  stopped_at = int(tf.train.latest_checkpoint(ckpt_dir).rsplit("-", 1)[1])
  assert f"Done at step {stopped_at} (preempted: True)" in err
  assert stopped_at >= 8
  # Resume to the end.
  result = subprocess.run(
      _train_cmd(workdir, model_dir,
                 wds_bindings + [f"TrainConfig.train_steps = {stopped_at + 4}"]),
      env=env, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"at step {stopped_at}." in result.stderr  # "Restored ... at step".
  final = tf.train.latest_checkpoint(ckpt_dir)
  assert final.endswith(f"ckpt-{stopped_at + 4}")
  assert not any("data_iterator" in k for k in
                 tf.train.load_checkpoint(final).get_variable_to_shape_map())
