"""`official/align/train.py` with a small image tower and planned SIGKILLs.

Run as a subprocess by the reliability tests:

  python tests/reliability/train_worker.py --model_dir=... --gin_file=...

It is train.py's `main`, with two test-only additions:

* `conv_image_tower` (gin) builds the two-conv tower of `tiny_models`, so
  that each launch traces in seconds (the EfficientNet trunk costs ~30
  CPU-seconds per trace). What the fault tests check (train loop, optimizer,
  data iterator, CheckpointManager) does not depend on the tower.
* `ALIGN_KILL_AT=<kind>:<n>[:<arg>]` makes the process SIGKILL itself at a
  planned point (a SIGKILL cannot be caught, so this is the same as a kill
  from outside at that instant, minus the timing noise):
    step:N          after the N-th train-loop call of this launch.
    delay:N:FRAC    FRAC (in [0, 1)) of one loop interval after the N-th
                    train-loop call, N >= 2: a random point of whatever runs
                    then (a step, logging, a save). The interval is measured
                    between calls N-1 and N of this launch, so the kill lands
                    about one step later whatever the machine's speed, never
                    after the run has ended.
    shards:N        in the N-th (or a later) `CheckpointManager.save` of
                    this launch, after the data shards are written to
                    `ckpt-S_temp/` and before they are merged into `ckpt-S.*`.
    state:N         in the N-th (or later) save, after `ckpt-S.*` is
                    complete and before the `checkpoint` state file names it.
    state_tmp:N     in the N-th (or later) save, after the new state file
                    is written under a temporary name, before the rename.
    sweep:N         in the N-th (or later) save, after the first file of an
                    old checkpoint is deleted (the state file still lists it).
"""
import os
import signal
import sys
import threading
import time

from absl import app
from absl import logging
import gin
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management
from tensorflow.python.lib.io import file_io
from tensorflow.python.ops import gen_io_ops

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import tiny_models  # pylint: disable=g-import-not-at-top,wrong-import-position
from official.align.runtime import steps

KILL_ENV = "ALIGN_KILL_AT"


@gin.configurable
def conv_image_tower():
  return tiny_models.conv_image_encoder()


def _die(where: str):
  logging.warning("Planned SIGKILL: %s", where)
  logging.flush()
  sys.stderr.flush()
  os.kill(os.getpid(), signal.SIGKILL)


def _install_kill(plan: str):
  """Patches the planned kill point in (see the module docstring)."""
  kind, n, *rest = plan.split(":")
  n = int(n)
  calls = {"loop": 0, "save": 0, "last_end": 0.0}

  if kind in ("step", "delay"):
    if kind == "delay" and n < 2:
      raise ValueError(f"{KILL_ENV}={plan}: delay needs N >= 2")
    make_train_loop = steps.make_train_loop

    def patched_make_train_loop(*args, **kwargs):
      loop = make_train_loop(*args, **kwargs)

      def counted(*a, **kw):
        out = loop(*a, **kw)
        calls["loop"] += 1
        now = time.monotonic()
        if calls["loop"] == n:
          if kind == "step":
            _die(f"after train-loop call {n}")
          delay = float(rest[0]) * (now - calls["last_end"])
          threading.Timer(delay, _die, args=(
              f"{delay:.3f} s ({rest[0]} of a loop interval) after loop "
              f"call {n}",)).start()
        calls["last_end"] = now
        return out
      return counted
    steps.make_train_loop = patched_make_train_loop
    return

  manager_save = tf.train.CheckpointManager.save

  def counted_save(self, *args, **kwargs):
    calls["save"] += 1
    return manager_save(self, *args, **kwargs)
  tf.train.CheckpointManager.save = counted_save

  def armed():
    return calls["save"] >= n

  if kind == "shards":
    merge = gen_io_ops.merge_v2_checkpoints

    def patched_merge(*args, **kwargs):
      if armed():
        _die(f"save {n}: shards written, not merged")
      return merge(*args, **kwargs)
    gen_io_ops.merge_v2_checkpoints = patched_merge
  elif kind == "state":
    update = checkpoint_management.update_checkpoint_state_internal

    def patched_update(*args, **kwargs):
      if armed():
        _die(f"save {n}: checkpoint complete, state file not updated")
      return update(*args, **kwargs)
    checkpoint_management.update_checkpoint_state_internal = patched_update
  elif kind == "state_tmp":
    atomic_write = file_io.atomic_write_string_to_file

    def patched_atomic_write(filename, contents, overwrite=True):
      if armed() and os.path.basename(filename) == "checkpoint":
        file_io.write_string_to_file(filename + ".tmp-killed", contents)
        _die(f"save {n}: state file written to a temporary name")
      return atomic_write(filename, contents, overwrite)
    file_io.atomic_write_string_to_file = patched_atomic_write
  elif kind == "sweep":
    delete = checkpoint_management._delete_file_if_exists  # pylint: disable=protected-access

    def patched_delete(filespec):
      delete(filespec)
      if armed():
        _die(f"save {n}: sweeping {filespec}")
    checkpoint_management._delete_file_if_exists = patched_delete  # pylint: disable=protected-access
  else:
    raise ValueError(f"Unknown {KILL_ENV} kind {kind!r}")


if __name__ == "__main__":
  # Imported here: train.py defines absl flags, which would clash with other
  # command-line modules imported by tests in the same process.
  from official.align import train  # pylint: disable=g-import-not-at-top
  if os.environ.get(KILL_ENV):
    _install_kill(os.environ[KILL_ENV])
  app.run(train.main)
