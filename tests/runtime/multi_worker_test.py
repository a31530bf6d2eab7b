"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 (gRPC).

Two workers (TF_CONFIG, free ports picked at run time) run `runtime.trainer.train`
on the tiny config with the two-conv test tower, and a third process runs
the same steps on one device at the same global batch: the concatenation of
the two workers' input pipelines (`InputContext` 0 and 1 of 2), i.e. exactly
the examples the workers saw. All three start from one initial checkpoint
(`AlignTask.init_checkpoint`). BatchNorm is synchronised across workers
(`use_sync_bn`), so batch statistics are over the global batch in both runs.

This file is also the worker program (`python multi_worker_test.py ROLE`).
"""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
STEPS = 3
GLOBAL_BATCH = 16
LEARNING_RATE = 0.05


def _bindings(data_dir, init_dir):
  return [
      f"AlignTask.train_file_pattern = '{data_dir}/train-*.tfrecord'",
      f"Preprocessing.vocab_file = '{data_dir}/vocab.txt'",
      f"TrainConfig.global_batch_size = {GLOBAL_BATCH}",
      f"TrainConfig.train_steps = {STEPS}",
      "TrainConfig.log_interval = 1",
      f"TrainConfig.checkpoint_interval = {STEPS}",
      "TrainConfig.deterministic = True",
      "TrainConfig.num_summary_images = 0",
      "TextEncoder.vocab_size = 300",
      "TextEncoder.embed_dim = 16",  # The conv test tower's width.
      "build_align_model.image_encoder_cls = @multi_worker_conv_tower",
      f"AlignTask.init_checkpoint = '{init_dir}/init'",
      # SGD: the weight step is linear in the gradient (see the test).
      "build_model_and_optimizer.optimizer_fn = @multi_worker_sgd",
  ]


def _register_tower():
  import gin  # pylint: disable=g-import-not-at-top
  if gin.config._REGISTRY.get("multi_worker_conv_tower"):  # pylint: disable=protected-access
    return
  sys.path.insert(0, TESTS)
  import tiny_models  # pylint: disable=g-import-not-at-top

  @gin.configurable("multi_worker_conv_tower")
  def conv_tower():
    return tiny_models.conv_image_encoder(use_sync_bn=True)

  @gin.configurable("multi_worker_sgd")
  def sgd():
    import tf_keras  # pylint: disable=g-import-not-at-top
    return tf_keras.optimizers.legacy.SGD(learning_rate=LEARNING_RATE)
  del conv_tower, sgd


def _parse(data_dir, init_dir):
  from official.align import gin_utils  # pylint: disable=g-import-not-at-top
  _register_tower()
  gin_utils.parse_gin([os.path.join(REPO, "configs", "tiny.gin")],
                      _bindings(data_dir, init_dir))


def _reference(model_dir):
  """One device, global batch = worker 0's batch followed by worker 1's."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.align.runtime import trainer  # pylint: disable=g-import-not-at-top
  config = trainer.TrainConfig()
  tf.keras.utils.set_random_seed(0)
  tf.config.experimental.enable_op_determinism()
  strategy = tf.distribute.get_strategy()
  model, _ = trainer.build_model_and_optimizer(strategy, config)
  reader = config.task.build_inputs(config)
  pipelines = [iter(reader(tf.distribute.InputContext(2, i, 2)))
               for i in range(2)]
  step = tf.function(model.train_step)
  losses = []
  for _ in range(STEPS):
    parts = [next(p) for p in pipelines]
    batch = {k: tf.concat([p[k] for p in parts], axis=0)
             for k in config.task.input_keys}
    losses.append(float(step(batch)["step_loss"]))
  tf.train.Checkpoint(model=model).write(os.path.join(model_dir, "ref"))
  with open(os.path.join(model_dir, "losses.json"), "w") as f:
    json.dump(losses, f)


def _main(role, data_dir, init_dir, model_dir):
  _parse(data_dir, init_dir)
  if role == "reference":
    _reference(model_dir)
    return
  from official.align.runtime import trainer  # pylint: disable=g-import-not-at-top
  result = trainer.train(model_dir)
  print(json.dumps(dict(step=result["step"])))


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _spawn(role, args, tf_config=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  env.pop("TF_CONFIG", None)
  if tf_config:
    env["TF_CONFIG"] = json.dumps(tf_config)
  return subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), role] + list(args),
      env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      text=True)


def _wait(process, timeout=900):
  out, _ = process.communicate(timeout=timeout)
  assert process.returncode == 0, out[-3000:]
  return out


def _scalars(event_dir, tag):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values = {}
  for name in tf.io.gfile.listdir(event_dir):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(event_dir, name)):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return [values[s] for s in sorted(values)]


def test_two_workers_match_one_device_at_the_same_global_batch(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.align import run_dir  # pylint: disable=g-import-not-at-top
  from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
  from official.align.tasks import align_task  # pylint: disable=g-import-not-at-top
  data_dir, init_dir = str(tmp_path / "world"), str(tmp_path / "init")
  model_dir, ref_dir = str(tmp_path / "mwms"), str(tmp_path / "reference")
  for d in (init_dir, model_dir, ref_dir):
    os.makedirs(d)
  start = time.time()
  demo_world.generate(data_dir, num_train=128, num_eval=8, image_size=32,
                      seed=0, num_workers=1, vocab_size=300,
                      num_train_shards=4)
  args = (data_dir, init_dir)
  import gin  # pylint: disable=g-import-not-at-top
  _parse(data_dir, init_dir)
  try:
    tf.keras.utils.set_random_seed(0)
    model = align_task.AlignTask(init_checkpoint=None).build_model()
    tf.train.Checkpoint(model=model).write(os.path.join(init_dir, "init"))
  finally:
    gin.clear_config()
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  workers = [_spawn("worker", args + (model_dir,), dict(
      cluster=cluster, task={"type": "worker", "index": i}))
             for i in range(2)]
  reference = _spawn("reference", args + (ref_dir,))
  try:
    outs = [_wait(w) for w in workers]
    _wait(reference)
  finally:  # A failed worker must not leave the others running.
    for p in workers + [reference]:
      if p.poll() is None:
        p.kill()
  for out in outs:
    assert json.loads(out.strip().splitlines()[-1]) == {"step": STEPS}

  # The chief (worker 0) wrote to model_dir; worker 1's scratch dir is gone.
  assert not tf.io.gfile.exists(os.path.join(model_dir, "tmp", "worker_1"))
  assert tf.io.gfile.exists(os.path.join(model_dir, "operative_config.gin"))
  with open(os.path.join(ref_dir, "losses.json")) as f:
    ref_losses = json.load(f)
  losses = _scalars(os.path.join(model_dir, "train"), "loss")
  assert len(losses) == len(ref_losses) == STEPS
  ckpt = tf.train.load_checkpoint(os.path.join(
      model_dir, run_dir.CHECKPOINT_SUBDIR, f"ckpt-{STEPS}"))
  ref = tf.train.load_checkpoint(os.path.join(ref_dir, "ref"))
  init = tf.train.load_checkpoint(os.path.join(init_dir, "init"))
  keys = [k for k in ref.get_variable_to_shape_map()
          if k.startswith(("model/image_encoder/", "model/text_encoder/",
                           "model/temperature/"))
          and "OPTIMIZER_SLOT" not in k]
  assert len(keys) > 20
  # Not vacuous: training moved most weights away from the shared start
  # (three steps on different batches need not lower the loss).
  init_keys = set(init.get_variable_to_shape_map())
  moved = [not np.array_equal(ckpt.get_tensor(k), init.get_tensor(k))
           for k in keys if k in init_keys]
  assert len(moved) > 20 and np.mean(moved) > 0.5
  # SGD moves each weight by -lr x its gradient, so the moves differ only
  # by float32 reassociation of the gradients' sums (sync BN moments,
  # gathered embeddings, the all-reduce): up to ~n eps of the sum of the
  # |terms| (n ~ 256 terms a sum, which cancel to ~1/10 of that), i.e.
  # ~1e-4 of a move; measured up to 2e-6 on moves of 0.02. Bound: 1e-3 of
  # the largest move. (With LAMB or Adam an entry whose gradient is float
  # noise around zero moves by up to ~lr either way: no tolerance on the
  # gradients bounds that.)
  deltas = {k: (ckpt.get_tensor(k) - init.get_tensor(k),
                ref.get_tensor(k) - init.get_tensor(k)) for k in keys
            if k in init_keys}
  assert len(deltas) == len(keys)
  largest = max(float(np.abs(d_ref).max()) for _, d_ref in deltas.values())
  eps = np.finfo(np.float32).eps
  for key, (delta, delta_ref) in deltas.items():
    np.testing.assert_allclose(
        delta, delta_ref, rtol=1e-4,
        atol=1e-3 * largest + 4 * eps * np.abs(init.get_tensor(key)).max(),
        err_msg=key)

  # The first step's loss, from the same weights, differs by float32
  # reassociation only (sync BN sums E[x], E[x^2] over workers where one
  # device reduces the whole batch at once; the contrastive loss gathers
  # embeddings instead of one matmul): relative 1e-5.
  np.testing.assert_allclose(losses[0], ref_losses[0], rtol=1e-5)
  # Later steps start from weights that differ by the `deltas` differences
  # checked above; to first order a loss then differs by |gradient| x
  # |weight difference|. The gradient's norm is at least |moves| / (lr x
  # steps) (triangle inequality); 4x that covers steps whose gradients
  # partly cancel. (A fixed relative tolerance is ill-conditioned here:
  # the weight differences, measured 3e-6 in L2, vary between runs.)
  weight_difference = np.sqrt(sum(float(np.sum((d - r) ** 2))
                                  for d, r in deltas.values()))
  moves = np.sqrt(sum(float(np.sum(r ** 2)) for _, r in deltas.values()))
  gradient_norm = moves / (LEARNING_RATE * STEPS)
  np.testing.assert_allclose(
      losses[1:], ref_losses[1:], rtol=1e-5,
      atol=4 * gradient_norm * weight_difference,
      err_msg=f"weights differ by {weight_difference:.3g} (L2)")


if __name__ == "__main__":
  _main(*sys.argv[1:])
