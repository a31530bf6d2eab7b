# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Compatibility: the names of the old `train_lib` module.

Run dirs written before the runtime/task split have an operative_config.gin
that imports `official.align.train_lib` and binds its configurables
(`TrainConfig`, `build_adam`, `build_model_and_optimizer`, `train`,
`AlignTask`, `build_strategy`, the demo world's `generate` and
`DemoWorldEvaluator`). Importing this module registers all of them, so such
a run dir still resumes (`train.py --gin_file=MODEL_DIR/operative_config.gin`);
its renamed bindings are translated by `run_dir_config.translate_legacy`.
New code imports the modules named below instead.
"""
from typing import Dict, Optional

import tensorflow as tf

from official.align import gin_utils
from official.align import optimization
from official.align import run_dir
from official.align.demo import evaluator as _demo_evaluator  # noqa: F401  pylint: disable=unused-import
from official.align.runtime import config as _config
from official.align.runtime import steps as _steps
from official.align.runtime import strategy as _strategy
from official.align.runtime import trainer as _trainer
from official.align.tasks import align_task as _align_task

AlignTask = _align_task.AlignTask
CHECKPOINT_SUBDIR = run_dir.CHECKPOINT_SUBDIR
MEAN_LOG_KEYS = _align_task.MEAN_LOG_KEYS
MODEL_KEYS = _align_task.MODEL_KEYS
NAN_POLICIES = _config.NAN_POLICIES
NonFiniteLossError = _config.NonFiniteLossError
TrainConfig = _config.TrainConfig
build_adam = optimization.build_adam
build_model_and_optimizer = _trainer.build_model_and_optimizer
build_strategy = _strategy.build_strategy
make_step_fn = _steps.make_step_fn
make_train_loop = _steps.make_train_loop
parse_gin = gin_utils.parse_gin


def train(model_dir: str,
          strategy: Optional[tf.distribute.Strategy] = None,
          config: Optional[TrainConfig] = None) -> Dict:
  """`runtime.trainer.train` with the old default task, `AlignTask()`."""
  config = config or TrainConfig()
  if config.task is None:
    config.task = AlignTask()
  return _trainer.train(model_dir, strategy=strategy, config=config)
