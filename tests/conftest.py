"""Shared pytest set-up.

TensorFlow is quietened, and the host CPU is split into 4 logical devices
before any test touches the runtime, so distribution tests can build a
`MirroredStrategy` over "CPU:0".."CPU:3". Single-device code uses CPU:0.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

# Shared session fixtures: `trained_demo_export` (tests/trained_demo.py).
pytest_plugins = ["trained_demo"]

NUM_LOGICAL_CPUS = 4

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS)


@pytest.fixture(autouse=True)
def _clear_gin_config_after_test():
  """Gin bindings parsed by one test (e.g. the configs a training test
  parses) must not leak into the next test of the same worker process.
  (Loading a run dir leaves the gin config as it was: run_dir_test.)"""
  yield
  with gin.unlock_config():
    gin.clear_config()
