# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The training loop of any task: strategy, checkpoints, summaries, preemption.

`train(model_dir, config=TrainConfig(task=...))` trains the task's model
(`runtime.task.Task`: e.g. `tasks.align_task.AlignTask`,
`tasks.classification_task.ClassificationTask`) with the gin-configured
optimizer (`optimization.build_optimizer`, or `build_adam`), using the
model's own cross-replica `train_step`.

The run dir (`run_dir`): operative_config.gin, preprocessing.json (the
task's `Preprocessing`), checkpoints/ckpt-STEP* (`tf.train.CheckpointManager`:
model, optimizer incl. slots and step, and by default the input iterator's
position), train/ and eval/ TensorBoard event files.

Checkpoints are atomic: TF writes the shards of a new checkpoint under a
temporary name, renames them, and only then rewrites the `checkpoint` state
file, so a crash at any point leaves the previous checkpoint loadable.
Restarting with the same `model_dir` resumes from the latest checkpoint:
same global step (`optimizer.iterations`), optimizer slots, temperature and
learning-rate schedule position, and (with `checkpoint_data_iterator`) the
same next batch. SIGTERM stops the loop at the end of the running
`steps_per_execution` chunk, saves a checkpoint at that step and returns
normally (exit code 0). Non-finite losses or gradient norms either stop the
run (`NonFiniteLossError`, naming the step) or skip the update
(`nan_policy`); a checkpoint is never written if any weight is non-finite.
"""
import os
from typing import Dict, Optional

from absl import logging
import gin
import tensorflow as tf
import tf_keras

from official.align import optimization
from official.align import run_dir
from official.align.checkpoints import compat
from official.align.dataloaders import skip_counts
from official.align.modeling import towers
from official.align.runtime import config as config_lib
from official.align.runtime import preemption as preemption_lib
from official.align.runtime import steps
from official.align.runtime import strategy as strategy_lib
from official.align.runtime import summaries

TrainConfig = config_lib.TrainConfig
NonFiniteLossError = config_lib.NonFiniteLossError


@gin.configurable(denylist=["strategy", "config"])
def build_model_and_optimizer(strategy, config: TrainConfig,
                              optimizer_fn=optimization.build_optimizer):
  """Model (the task's), memory levers (gin), optimizer (gin) in scope.

  Args:
    strategy: the `tf.distribute` strategy.
    config: the run's `TrainConfig`.
    optimizer_fn: () -> optimizer; default the paper's LAMB
      (`optimization.build_optimizer`), or e.g. `@build_adam`.

  Returns:
    (model, optimizer): the task's model (`config.task.build_model()`).
  """
  if config.mixed_precision_policy:
    tf_keras.mixed_precision.set_global_policy(config.mixed_precision_policy)
  with strategy.scope():
    model = config.task.build_model()
    towers.configure_towers(model)
    optimizer = optimizer_fn()
    if config.mixed_precision_policy == "mixed_float16":
      optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer)
  return model, optimizer


@gin.configurable(denylist=["model_dir", "strategy"])
def train(model_dir: str,
          strategy: Optional[tf.distribute.Strategy] = None,
          config: Optional[TrainConfig] = None) -> Dict:
  """Trains (or resumes) `config.task` until `config.train_steps`.

  Args:
    model_dir: the run dir (checkpoints, summaries, operative config).
    strategy: default `strategy.build_strategy()` (gin).
    config: default `TrainConfig()` (gin); its `task` must be set.

  Returns:
    dict with `step`, the last interval's mean `loss`, `preempted` (bool),
    `eval` (last evaluation metrics or None), `model`, `evaluator` (the
    task's evaluator or None).

  Raises:
    ValueError: no task.
    NonFiniteLossError: non-finite loss with nan_policy="stop".
  """
  config = config or TrainConfig()
  if config.task is None:
    raise ValueError("TrainConfig.task is not set (e.g. TrainConfig.task = "
                     "@AlignTask()).")
  with preemption_lib.Preemption() as preemption:
    return _train(model_dir, strategy, config, preemption)


def _seed(config: TrainConfig) -> None:
  if config.deterministic:
    tf_keras.utils.set_random_seed(config.data_seed)
    tf.config.experimental.enable_op_determinism()
  elif config.seed is not None:
    tf_keras.utils.set_random_seed(config.seed)


def _checkpoint(model, optimizer, iterator, inputs, strategy,
                config: TrainConfig) -> tf.train.Checkpoint:
  """Model, optimizer and (if it can be) the input iterator."""
  trackables = dict(model=model, optimizer=optimizer)
  if config.checkpoint_data_iterator:
    if not getattr(inputs, "checkpointable", True):
      # E.g. webdataset tars, read by a Python generator: saving its
      # iterator fails ("PyFunc is stateful") at the first checkpoint.
      logging.warning("The input pipeline (%s) cannot be checkpointed: "
                      "checkpoints hold the model and optimizer only, and a "
                      "resumed run restarts the input pipeline with a fresh "
                      "shuffle.", type(inputs).__name__)
    elif isinstance(iterator, tf.__internal__.tracking.Trackable):
      trackables["data_iterator"] = iterator
    else:  # MultiWorkerMirroredStrategy's iterator is not checkpointable.
      logging.warning("The %s input iterator cannot be checkpointed: a "
                      "resumed run restarts the input pipeline.",
                      type(strategy).__name__)
  return tf.train.Checkpoint(**trackables)


def _host_batch(strategy, global_batch_size: int) -> int:
  """This host's share of each global batch (its pipeline's records read)."""
  try:
    local_replicas = len(strategy.extended.worker_devices)
  except RuntimeError:  # The default strategy: this host's one device.
    local_replicas = strategy.num_replicas_in_sync
  return global_batch_size * local_replicas // strategy.num_replicas_in_sync


def _train(model_dir, strategy, config: TrainConfig,
           preemption: preemption_lib.Preemption) -> Dict:
  """`train`, with SIGTERM recorded by `preemption` from the start."""
  _seed(config)
  strategy = strategy or strategy_lib.build_strategy()
  task = config.task
  model, optimizer = build_model_and_optimizer(strategy, config)
  # A checkpoint of another architecture: one-line ConfigError now, not a
  # partial restore. Every worker resumes from the chief's checkpoints
  # (other workers write theirs to a scratch dir removed at the end), so
  # all resume at one step.
  latest = run_dir.latest_checkpoint(model_dir)
  if latest:
    compat.check_checkpoint_fits_model(latest, model)
  inputs = task.build_inputs(config)
  iterator = iter(strategy.distribute_datasets_from_function(inputs))

  work_dir = strategy_lib.worker_dir(model_dir, strategy)
  tf.io.gfile.makedirs(work_dir)
  checkpoint = _checkpoint(model, optimizer, iterator, inputs, strategy,
                           config)
  manager = tf.train.CheckpointManager(
      checkpoint, run_dir.checkpoint_dir(work_dir),
      max_to_keep=config.max_checkpoints_to_keep,
      step_counter=optimizer.iterations)
  if latest:
    checkpoint.restore(latest)
  step = int(optimizer.iterations.numpy())
  if latest:
    logging.info("Restored %s at step %d.", latest, step)

  writer = tf.summary.create_file_writer(os.path.join(work_dir, "train"))
  eval_writer = tf.summary.create_file_writer(os.path.join(work_dir, "eval"))
  operative = gin.operative_config_str()
  if strategy_lib.is_chief(strategy):
    run_dir.write_run_record(model_dir, operative,
                             getattr(task, "preprocessing", None))
  with writer.as_default():
    tf.summary.text("operative_config",
                    summaries.operative_config_markdown(operative), step=step)
  if step == 0:
    task.write_sample_images(writer, config, step)

  def save(force: bool):
    due = (config.checkpoint_interval and
           step % config.checkpoint_interval == 0)
    if not (force or due) or manager.latest_checkpoint == os.path.join(
        manager.directory, f"ckpt-{step}"):
      return
    if not all(bool(tf.reduce_all(tf.math.is_finite(v)))
               for v in model.variables + optimizer.variables()
               if v.dtype.is_floating):
      raise NonFiniteLossError(
          f"Refusing to checkpoint non-finite weights at step {step}.")
    logging.info("Saved checkpoint %s", manager.save(checkpoint_number=step))

  evaluator = task.build_evaluator(model, config)

  def evaluate():
    if evaluator is None:
      return None
    metrics = evaluator.evaluate()["metrics"]
    with eval_writer.as_default():
      for name, value in metrics.items():
        tf.summary.scalar(name, value, step=step)
    logging.info("step %d eval: %s", step, " ".join(
        f"{k}={v:.3f}" for k, v in metrics.items()))
    return metrics

  log_keys = tuple(task.log_keys)
  train_loop = steps.make_train_loop(
      strategy, model, steps.make_step_fn(model, config.nan_policy, log_keys),
      config.jit_compile, input_keys=task.input_keys, log_keys=log_keys)
  boundaries = [b for b in (config.log_interval, config.checkpoint_interval,
                            config.eval_interval) if b]
  interval = summaries.IntervalLog(writer, log_keys, config.train_steps,
                                   config.global_batch_size)
  eval_metrics = None
  host_batch = _host_batch(strategy, config.global_batch_size)
  skip_monitor, first_step = skip_counts.SkipMonitor(), step
  while step < config.train_steps and not preemption.requested:
    to_boundary = min(b - step % b for b in boundaries)
    num_steps = min(config.steps_per_execution, to_boundary,
                    config.train_steps - step)
    out = train_loop(iterator, tf.constant(num_steps))
    step = int(optimizer.iterations.numpy())
    bad_step = int(out["first_nonfinite_step"])
    if bad_step >= 0:
      if config.nan_policy == "stop":
        raise NonFiniteLossError(
            f"Non-finite loss or gradient norm at step {bad_step}; "
            "stopping without checkpointing (set "
            "TrainConfig.nan_policy='skip' to skip such steps).")
      logging.warning("Non-finite loss at step %d: update skipped.",
                      bad_step)
    interval.add(out, num_steps)
    if step % config.log_interval == 0 or step >= config.train_steps:
      skip_monitor.update(out["skipped_records"].numpy(),
                          (step - first_step) * host_batch)
      interval.write(step, optimizer, out["skipped_records"].numpy(),
                     task.summary_scalars(model))
    save(force=step >= config.train_steps or preemption.requested)
    if config.eval_interval and step % config.eval_interval == 0:
      eval_metrics = evaluate()
  skip_monitor.finish()
  preempted = preemption.requested and step < config.train_steps
  if preemption.requested:
    save(force=True)
  if config.eval_interval and step % config.eval_interval and not preempted:
    eval_metrics = evaluate()
  writer.flush()
  eval_writer.flush()
  if not strategy_lib.is_chief(strategy):
    tf.io.gfile.rmtree(work_dir)
  return dict(step=step, loss=interval.last["loss"], preempted=preempted,
              eval=eval_metrics, model=model, evaluator=evaluator)
