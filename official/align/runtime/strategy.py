# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The `tf.distribute` strategy, and which worker writes the run dir."""
import json
import os
from typing import Optional

import gin
import tensorflow as tf


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


def is_chief(strategy) -> bool:
  """Whether this worker writes the run dir (chief, or worker 0 without one)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type in (None, "chief") or (
      task_type == "worker" and task_id == 0 and
      "chief" not in resolver.cluster_spec().as_dict())


def worker_dir(model_dir: str, strategy) -> str:
  """model_dir on the chief, a throw-away dir on other workers."""
  if is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return os.path.join(model_dir, "tmp",
                      f"{resolver.task_type}_{resolver.task_id}")
