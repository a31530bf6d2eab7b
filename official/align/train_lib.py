# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ALIGN training: strategy, custom loop, summaries, checkpoints, preemption.

`train(model_dir)` trains the model of the gin-configured task
(`TrainConfig.task`: by default `AlignTask`, the gin-configured `AlignModel`
of `modeling.align_model.build_align_model` on `InputReader` batches; or e.g.
`transfer.classification_task.ClassificationTask`) with the gin-configured
optimizer (`optimization.build_optimizer`), using the model's own
cross-replica `train_step`. Everything else is bound through `TrainConfig`
(gin) and `build_strategy` (gin or flags).

Under `model_dir`:
  operative_config.gin     the gin configuration actually used.
  checkpoints/ckpt-STEP*   `tf.train.CheckpointManager` checkpoints (model,
                           optimizer incl. slots and step, and by default the
                           input iterator's position).
  train/, eval/            TensorBoard event files.

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
import dataclasses
import json
import os
import signal
import time
from typing import Any, Callable, Dict, Optional, Sequence

from absl import logging
import gin
import numpy as np
import tensorflow as tf
import tf_keras

from official.align import checkpoint_compat
from official.align import optimization
from official.align import run_dir_config
from official.align import towers
from official.align.dataloaders import input_reader
from official.align.dataloaders import skip_counts
from official.align.evaluation import demo_world_eval
from official.align.modeling import align_model

NAN_POLICIES = ("stop", "skip")
MEAN_LOG_KEYS = ("step_loss", "image_to_text_accuracy",
                 "text_to_image_accuracy", "gradient_norm")
MODEL_KEYS = (align_model.IMAGE_KEY,) + align_model.TEXT_KEYS
CHECKPOINT_SUBDIR = "checkpoints"


class NonFiniteLossError(RuntimeError):
  """The loss or gradient norm became NaN/Inf (with nan_policy="stop")."""


@gin.configurable
@dataclasses.dataclass
class TrainConfig:
  """What to train on, for how long, and how (all gin-bindable).

  Attributes:
    train_file_pattern: glob(s) of training shards (`InputReader`; required
      by `AlignTask`).
    vocab_file: vocab.txt of the tokenizer; must fit `TextEncoder.vocab_size`
      (required by `AlignTask`).
    global_batch_size: examples per step over all replicas.
    train_steps: total optimizer steps of the run (resumes count).
    steps_per_execution: steps run inside one `tf.function` call.
    log_interval: steps between progress lines and scalar summaries.
    checkpoint_interval: steps between checkpoints (0: only at the end).
    max_checkpoints_to_keep: checkpoints kept by the manager.
    checkpoint_data_iterator: also checkpoint the input iterator's position
      (needs a checkpointable pipeline, e.g. TFRecord shards; webdataset
      tars are read by a Python generator, which is not: with them the
      iterator is left out of checkpoints, with a warning).
    eval_file_pattern: eval split shards with labels, or None for no eval.
    eval_labels_file: the demo world's eval_labels.json (zero-shot labels).
    eval_interval: steps between zero-shot evaluations, and one at the end
      (0: none).
    eval_batch_size: batch size of the evaluation.
    mixed_precision_policy: e.g. "mixed_bfloat16" (TPU), "mixed_float16"
      (GPU, adds loss scaling), or None for float32.
    jit_compile: XLA-compile the replica step (TPUs always compile).
    nan_policy: "stop" (raise `NonFiniteLossError`) or "skip" (do not apply
      the update of a non-finite step and undo its BatchNorm statistics
      update; the step still counts).
    deterministic: seeded, op-deterministic run with deterministic input.
    seed: seed of initialisation and data (None: random unless
      deterministic, then 0).
    num_summary_images: training images (with captions) written to
      TensorBoard at the start of a run.
    task: what is trained on what (model, inputs, logged scalars,
      evaluation); None: `AlignTask()`. E.g. `@ClassificationTask()`.
  """
  train_file_pattern: Optional[str] = None
  vocab_file: Optional[str] = None
  global_batch_size: int = 64
  train_steps: int = 1000
  steps_per_execution: int = 1
  log_interval: int = 100
  checkpoint_interval: int = 1000
  max_checkpoints_to_keep: int = 3
  checkpoint_data_iterator: bool = True
  eval_file_pattern: Optional[str] = None
  eval_labels_file: Optional[str] = None
  eval_interval: int = 0
  eval_batch_size: int = 256
  mixed_precision_policy: Optional[str] = None
  jit_compile: bool = False
  nan_policy: str = "stop"
  deterministic: bool = False
  seed: Optional[int] = None
  num_summary_images: int = 4
  task: Optional[Any] = None

  def __post_init__(self):
    if self.task is None:
      self.task = AlignTask()
    if self.nan_policy not in NAN_POLICIES:
      raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got "
                       f"{self.nan_policy!r}")
    if self.steps_per_execution < 1 or self.log_interval < 1:
      raise ValueError("steps_per_execution and log_interval must be >= 1.")


@gin.configurable
def build_strategy(distribution_strategy: str = "auto",
                   tpu: Optional[str] = None) -> tf.distribute.Strategy:
  """Picks the `tf.distribute` strategy.

  Args:
    distribution_strategy: "auto", "tpu", "multi_worker_mirrored",
      "mirrored" or "default". "auto" means: TPU if `tpu` is given, else
      multi-worker if TF_CONFIG lists more than one task, else mirrored over
      the GPUs if there are any, else the default (single-device) strategy.
    tpu: TPU name or grpc address ("local" for a TPU VM).

  Returns:
    The strategy.
  """
  if distribution_strategy == "auto":
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    num_tasks = sum(len(v) for v in cluster.values())
    if tpu:
      distribution_strategy = "tpu"
    elif num_tasks > 1:
      distribution_strategy = "multi_worker_mirrored"
    elif tf.config.list_physical_devices("GPU"):
      distribution_strategy = "mirrored"
    else:
      distribution_strategy = "default"
  if distribution_strategy == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu="" if tpu == "local" else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  if distribution_strategy == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if distribution_strategy == "mirrored":
    return tf.distribute.MirroredStrategy()
  if distribution_strategy == "default":
    return tf.distribute.get_strategy()
  raise ValueError(f"Unknown distribution_strategy {distribution_strategy!r}")


def _is_chief(strategy) -> bool:
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type in (None, "chief") or (
      task_type == "worker" and task_id == 0 and
      "chief" not in resolver.cluster_spec().as_dict())


def _worker_dir(model_dir: str, strategy) -> str:
  """model_dir on the chief, a throw-away dir on other workers."""
  if _is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return os.path.join(model_dir, "tmp",
                      f"{resolver.task_type}_{resolver.task_id}")


def _current_learning_rate(optimizer) -> float:
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  lr = inner.learning_rate if hasattr(inner, "learning_rate") else inner.lr
  if callable(lr):
    lr = lr(inner.iterations)
  return float(tf.convert_to_tensor(lr))


def _all_finite(variables) -> bool:
  return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables
             if v.dtype.is_floating)


class _Preemption:
  """Records SIGTERM; the loop checks `requested` between chunks."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread: no handler.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: checkpointing and stopping.")
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


class _VarHolder:
  """Keeps `merge_call` from unwrapping a list of distributed variables."""

  def __init__(self, value):
    self.value = value


def make_step_fn(model: align_model.AlignModel, nan_policy: str,
                 log_keys: Sequence[str] = MEAN_LOG_KEYS):
  """The replica step: model's `train_step`, or a skipping variant.

  Args:
    model: a compiled model with `train_step`, `compute_gradients` and
      `step_logs` (`AlignModel`, `ClassifierModel`).
    nan_policy: see `TrainConfig`.
    log_keys: the scalars of the step's logs to return.

  Returns:
    fn(features) -> dict of global float32 scalars (`log_keys`, e.g.
    `step_loss`, accuracies, `gradient_norm`; `finite` (1. or 0.)).
  """
  if nan_policy == "stop":

    def step_fn(features):
      logs = model.train_step(features)
      finite = tf.logical_and(tf.math.is_finite(logs["step_loss"]),
                              tf.math.is_finite(logs["gradient_norm"]))
      return dict({k: logs[k] for k in log_keys},
                  finite=tf.cast(finite, tf.float32))
    return step_fn

  def skip_step_fn(features):
    optimizer = model.optimizer
    # The forward pass updates BatchNorm statistics; keep them to undo it.
    state = [v for v in model.non_trainable_variables if v.dtype.is_floating]
    saved = [tf.identity(v) for v in state]
    gradients, output, gradient_norm = model.compute_gradients(features)
    logs = model.step_logs(output, gradient_norm=gradient_norm)
    finite = tf.logical_and(tf.math.is_finite(logs["step_loss"]),
                            tf.math.is_finite(gradient_norm))
    for v, value in zip(state, saved):
      v.assign(tf.where(finite, v, value))
    variables = _VarHolder(model.trainable_variables)

    def apply_cross_replica(strategy, gradients, finite, variables):
      # `cond` must run in cross-replica context: `apply_gradients` calls
      # `merge_call` (the pattern of Keras' LossScaleOptimizer).
      should_apply = strategy.experimental_local_results(finite)[0]

      def apply():
        # `variables` is per replica here (merge_call regroups the holders);
        # call_for_each_replica hands each replica its own.
        strategy.extended.call_for_each_replica(
            lambda g, v: align_model.apply_aggregated_gradients(
                optimizer, zip(g, v.value)), args=(gradients, variables))
        return tf.constant(True)

      def skip():
        with tf.control_dependencies([optimizer.iterations.assign_add(1)]):
          return tf.constant(False)

      return tf.__internal__.smart_cond.smart_cond(should_apply, apply, skip)

    tf.distribute.get_replica_context().merge_call(
        apply_cross_replica, args=(gradients, finite, variables))
    return dict({k: logs[k] for k in log_keys},
                finite=tf.cast(finite, tf.float32))
  return skip_step_fn


def make_train_loop(strategy, model, step_fn, jit_compile: bool,
                    input_keys: Sequence[str] = MODEL_KEYS,
                    log_keys: Sequence[str] = MEAN_LOG_KEYS):
  """`tf.function(iterator, num_steps)` running `num_steps` steps.

  Args:
    strategy: the `tf.distribute` strategy.
    model: the model (its optimizer counts the steps).
    step_fn: the replica step (`make_step_fn`).
    jit_compile: XLA-compile the replica step.
    input_keys: batch features passed to the step.
    log_keys: the step's scalars to sum.

  Returns:
    fn -> dict: sums over the steps of `log_keys` (float32), `finite`
    count, `first_nonfinite_step` (int64, -1 if none; the global step number
    after that step), `skipped_records` int64 [len(SKIP_REASONS)] of this
    host's input pipeline.
  """
  replica_fn = (tf.function(step_fn, jit_compile=True) if jit_compile
                else step_fn)
  first = lambda v: strategy.experimental_local_results(v)[0]

  @tf.function
  def train_loop(iterator, num_steps):
    sums = {k: tf.constant(0.0) for k in log_keys}
    first_bad = tf.constant(-1, tf.int64)
    skipped = tf.zeros([len(input_reader.SKIP_REASONS)], tf.int64)
    for _ in tf.range(num_steps):
      data = next(iterator)
      features = {k: data[k] for k in input_keys}
      out = strategy.run(replica_fn, args=(features,))
      out = {k: first(v) for k, v in out.items()}
      sums = {k: sums[k] + out[k] for k in log_keys}
      step = tf.cast(model.optimizer.iterations, tf.int64)
      first_bad = tf.where(
          tf.logical_and(first_bad < 0, out["finite"] < 0.5), step, first_bad)
      # (Multi-worker input loses the static shape; the loop needs it.)
      skipped = tf.ensure_shape(tf.reduce_max(tf.stack(
          strategy.experimental_local_results(data["skipped_records"])),
                                              axis=0), skipped.shape)
    return dict(sums, first_nonfinite_step=first_bad, skipped_records=skipped)

  return train_loop


def _operative_config_markdown(text: str) -> str:
  return "\n".join("    " + line for line in text.splitlines())


def _write_sample_images(writer, config: TrainConfig, step: int):
  """A few training images with their captions as an image summary."""
  if config.num_summary_images <= 0:
    return
  reader = input_reader.InputReader(
      config.train_file_pattern, config.num_summary_images, is_training=True,
      vocab_file=config.vocab_file, deterministic=True, seed=0,
      return_text=True, shuffle_buffer_size=64)
  batch = next(iter(reader(None)))
  captions = [t.decode("utf-8", "replace") for t in batch["text"].numpy()]
  description = "\n".join(f"{i}: {c}" for i, c in enumerate(captions))
  with writer.as_default():
    tf.summary.image("train_examples", tf.clip_by_value(batch["image"], 0, 1),
                     step=step, max_outputs=config.num_summary_images,
                     description=description)
    tf.summary.text("train_example_captions", tf.constant(
        [f"{i}: {c}" for i, c in enumerate(captions)]), step=step)


def build_evaluator(model, config: TrainConfig
                    ) -> demo_world_eval.DemoWorldEvaluator:
  """Zero-shot/retrieval evaluator of the configured eval split."""
  reader = input_reader.InputReader(
      config.eval_file_pattern, config.eval_batch_size, is_training=False,
      vocab_file=config.vocab_file, deterministic=True, return_text=True,
      drop_remainder=False)
  return demo_world_eval.DemoWorldEvaluator(
      model, reader.tokenizer, lambda: reader(None), config.eval_labels_file)


@gin.configurable
class AlignTask:
  """ALIGN pre-training: the default `TrainConfig.task`.

  The task interface `train` uses: `input_keys` (batch features the model's
  step reads), `log_keys` (global scalars of the step, the loss first),
  `build_model()` (built model, called in the strategy scope),
  `build_inputs(config)` (`dataset_fn(input_context)`),
  `summary_scalars(model)` (extra scalars per log interval),
  `build_evaluator(model, config)` (None or `.evaluate()` →
  {"metrics": {...}}) and `write_sample_images(writer, config, step)`.
  """
  input_keys = MODEL_KEYS
  log_keys = MEAN_LOG_KEYS

  def __init__(self, model_fn: Callable[[], align_model.AlignModel] = (
      align_model.build_align_model),
               init_checkpoint: Optional[str] = None):
    """Configures the task.

    Args:
      model_fn: () -> built `AlignModel` (gin-configured).
      init_checkpoint: a pre-trained ALIGN checkpoint (prefix, checkpoint
        dir or model dir) to start from, e.g. for retrieval fine-tuning;
        only the model is read. A checkpoint of the run itself (resume)
        takes precedence.
    """
    self._model_fn = model_fn
    self._init_checkpoint = init_checkpoint

  def build_model(self) -> align_model.AlignModel:
    model = self._model_fn()
    if self._init_checkpoint:
      path = self._init_checkpoint
      prefix = (tf.train.latest_checkpoint(path) or tf.train.latest_checkpoint(
          os.path.join(path, CHECKPOINT_SUBDIR))) if tf.io.gfile.isdir(
              path) else path
      if not prefix:
        raise ValueError(f"AlignTask.init_checkpoint: no checkpoint in {path}")
      # Only the towers and the temperature (or the sigmoid loss's scale
      # and bias): not an optimizer that the saved model or this one may
      # carry, nor the data iterator.
      weights = tf.train.Checkpoint(image_encoder=model.image_encoder,
                                    text_encoder=model.text_encoder,
                                    **model.logit_parameters)
      status = tf.train.Checkpoint(model=weights).read(prefix)
      status.expect_partial()
      status.assert_existing_objects_matched()
      logging.info("Initialised the model from %s.", prefix)
    return model

  def build_inputs(self, config: TrainConfig) -> input_reader.InputReader:
    missing = [name for name in ("train_file_pattern", "vocab_file")
               if not getattr(config, name)]
    if missing:
      raise ValueError(
          "AlignTask needs " + " and ".join(f"TrainConfig.{m}" for m in missing)
          + " (gin bindings).")
    return input_reader.InputReader(
        config.train_file_pattern, config.global_batch_size,
        is_training=True, vocab_file=config.vocab_file,
        deterministic=config.deterministic, seed=config.seed)

  def summary_scalars(self, model) -> Dict[str, float]:
    scalars = {"temperature": float(model.temperature.numpy())}
    if model.logit_bias is not None:
      scalars["logit_bias"] = float(model.logit_bias.numpy())
    return scalars

  def build_evaluator(self, model, config: TrainConfig):
    if config.eval_file_pattern and config.eval_labels_file:
      return build_evaluator(model, config)
    return None

  def write_sample_images(self, writer, config: TrainConfig, step: int):
    _write_sample_images(writer, config, step)


@gin.configurable
def build_adam(learning_rate=None, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, global_clipnorm: Optional[float] = None
               ) -> tf_keras.optimizers.legacy.Optimizer:
  """Adam with `optimization.build_learning_rate()`'s schedule (small runs).

  LAMB (the paper's, `optimization.build_optimizer`) scales every update to
  `learning_rate * ||w||`, which is slow for from-scratch CPU-sized demos.
  """
  if learning_rate is None:
    learning_rate = optimization.build_learning_rate()
  return tf_keras.optimizers.legacy.Adam(
      learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
      epsilon=epsilon, global_clipnorm=global_clipnorm)


@gin.configurable(denylist=["strategy", "config"])
def build_model_and_optimizer(strategy, config: TrainConfig,
                              optimizer_fn=optimization.build_optimizer):
  """Model (gin), memory levers (gin), optimizer (gin) in strategy scope.

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


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@gin.configurable(denylist=["model_dir", "strategy"])
def train(model_dir: str,
          strategy: Optional[tf.distribute.Strategy] = None,
          config: Optional[TrainConfig] = None) -> Dict:
  """Trains (or resumes) until `config.train_steps`.

  Args:
    model_dir: checkpoints, summaries and operative config go here.
    strategy: default `build_strategy()` (gin).
    config: default `TrainConfig()` (gin).

  Returns:
    dict with `step`, the last interval's mean `loss`, `preempted` (bool),
    `eval` (last zero-shot metrics or None), `model`, `evaluator` (a
    `DemoWorldEvaluator` or None).

  Raises:
    NonFiniteLossError: non-finite loss with nan_policy="stop".
  """
  config = config or TrainConfig()
  with _Preemption() as preemption:
    return _train(model_dir, strategy, config, preemption)


def _train(model_dir, strategy, config: TrainConfig,
           preemption: _Preemption) -> Dict:
  """`train`, with SIGTERM recorded by `preemption` from the start."""
  if config.deterministic:
    seed = 0 if config.seed is None else config.seed
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
  elif config.seed is not None:
    tf_keras.utils.set_random_seed(config.seed)
  strategy = strategy or build_strategy()
  task = config.task
  model, optimizer = build_model_and_optimizer(strategy, config)
  # A checkpoint of another architecture or a too-large vocabulary: one-line
  # ConfigError now, not a partial restore or an id error in the first step.
  # Every worker resumes from the chief's checkpoints (other workers write
  # theirs to a scratch dir removed at the end), so all resume at one step.
  latest = tf.train.latest_checkpoint(
      os.path.join(model_dir, CHECKPOINT_SUBDIR))
  if latest:
    checkpoint_compat.check_checkpoint_fits_model(latest, model)
  checkpoint_compat.check_vocabulary_fits_model(config.vocab_file, model)
  inputs = task.build_inputs(config)
  iterator = iter(strategy.distribute_datasets_from_function(inputs))

  work_dir = _worker_dir(model_dir, strategy)
  tf.io.gfile.makedirs(work_dir)
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
  checkpoint = tf.train.Checkpoint(**trackables)
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(work_dir, CHECKPOINT_SUBDIR),
      max_to_keep=config.max_checkpoints_to_keep,
      step_counter=optimizer.iterations)
  restored = latest
  if latest:
    checkpoint.restore(latest)
  step = int(optimizer.iterations.numpy())
  if restored:
    logging.info("Restored %s at step %d.", restored, step)

  writer = tf.summary.create_file_writer(os.path.join(work_dir, "train"))
  eval_writer = tf.summary.create_file_writer(os.path.join(work_dir, "eval"))
  operative = gin.operative_config_str()
  if _is_chief(strategy):
    with tf.io.gfile.GFile(os.path.join(model_dir, "operative_config.gin"),
                           "w") as f:
      f.write(operative)
  with writer.as_default():
    tf.summary.text("operative_config", _operative_config_markdown(operative),
                    step=step)
  if step == 0:
    task.write_sample_images(writer, config, step)

  def save(force: bool):
    due = (config.checkpoint_interval and
           step % config.checkpoint_interval == 0)
    if not (force or due) or manager.latest_checkpoint == os.path.join(
        manager.directory, f"ckpt-{step}"):
      return
    if not _all_finite(model.variables + optimizer.variables()):
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
  train_loop = make_train_loop(
      strategy, model, make_step_fn(model, config.nan_policy, log_keys),
      config.jit_compile, input_keys=task.input_keys, log_keys=log_keys)
  boundaries = [config.log_interval, config.checkpoint_interval,
                config.eval_interval]
  boundaries = [b for b in boundaries if b]
  interval = {k: 0.0 for k in log_keys}
  interval_steps, interval_start = 0, time.time()
  last = {"loss": float("nan")}
  eval_metrics = None
  preempted = False
  # This host's share of each global batch (its pipeline's records read).
  try:
    local_replicas = len(strategy.extended.worker_devices)
  except RuntimeError:  # The default strategy: this host's one device.
    local_replicas = strategy.num_replicas_in_sync
  host_batch = (config.global_batch_size * local_replicas //
                strategy.num_replicas_in_sync)
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
    for k in log_keys:
      interval[k] += float(out[k])
    interval_steps += num_steps
    if step % config.log_interval == 0 or step >= config.train_steps:
      elapsed = max(time.time() - interval_start, 1e-9)
      means = {k: v / interval_steps for k, v in interval.items()}
      examples_per_second = (interval_steps * config.global_batch_size /
                             elapsed)
      eta = (config.train_steps - step) * elapsed / interval_steps
      skip_monitor.update(out["skipped_records"].numpy(),
                          (step - first_step) * host_batch)
      skipped = input_reader.skip_counts_to_dict(
          out["skipped_records"].numpy())
      learning_rate = _current_learning_rate(optimizer)
      extra = task.summary_scalars(model)  # ALIGN: the temperature.
      with writer.as_default():
        tf.summary.scalar("loss", means["step_loss"], step=step)
        for k in log_keys[1:]:
          tf.summary.scalar(k, means[k], step=step)
        for name, value in extra.items():
          tf.summary.scalar(name, value, step=step)
        tf.summary.scalar("learning_rate", learning_rate, step=step)
        tf.summary.scalar("examples_per_second", examples_per_second,
                          step=step)
        for reason, count in skipped.items():
          tf.summary.scalar(f"skipped_records/{reason}", count, step=step)
      shown = [(k, means[k]) for k in log_keys[1:] if k != "gradient_norm"]
      logging.info(
          "step %d/%d loss %.4f %s lr %.3g %.1f ex/s skipped %d ETA %s",
          step, config.train_steps, means["step_loss"],
          " ".join(f"{k} {v:.4g}" for k, v in shown + list(extra.items())),
          learning_rate, examples_per_second, sum(skipped.values()),
          _format_eta(eta))
      last = dict(means, loss=means["step_loss"])
      interval = {k: 0.0 for k in log_keys}
      interval_steps, interval_start = 0, time.time()
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
  if not _is_chief(strategy):
    tf.io.gfile.rmtree(work_dir)
  return dict(step=step, loss=last["loss"], preempted=preempted,
              eval=eval_metrics, model=model, evaluator=evaluator)


def _is_run_dir_config(path: str, model_dir: Optional[str]) -> bool:
  """Whether `path` is a config read back from a run dir (not trusted code)."""
  if os.path.basename(path) == run_dir_config.OPERATIVE_CONFIG:
    return True
  if not model_dir or "://" in path:
    return False
  real = os.path.realpath(path)
  return real.startswith(os.path.realpath(model_dir).rstrip("/") + "/")


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str],
              model_dir: Optional[str] = None):
  """Parses gin files and bindings; fails fast on any gin error.

  Unknown configurables or parameters, typos and missing files raise here
  (before anything is built), with gin's message. A gin file named
  `operative_config.gin` or lying in `model_dir` was read back from a run
  dir: `run_dir_config.check_config` refuses its `include`, `import` (but of
  official.align) and `dynamic_registration` lines before gin parses any
  file.

  Raises:
    IOError: a gin file is missing.
    run_dir_config.UntrustedConfigError: (a ValueError) see above.
    ValueError: gin's errors (syntax errors too).
  """
  for path in gin_files or []:
    if not tf.io.gfile.exists(path):
      raise IOError(f"Gin file not found: {path}")
    if _is_run_dir_config(path, model_dir):
      run_dir_config.read_checked(path)
    # `include 'x.gin'` inside a config resolves next to that config too.
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
      gin.add_config_file_search_path(directory)
  with run_dir_config.gin_syntax_errors_as_value_errors():
    gin.parse_config_files_and_bindings(list(gin_files or []),
                                        list(gin_bindings or []),
                                        finalize_config=True)

