# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Publishing a finished output: atomic replace with rollback.

Every writer of this package (the TF-Hub export, the Hugging Face converter,
the search index, the Beam filter) writes its output to a staging location
first and then calls `publish`, which for each (staged, target) pair

  1. renames an existing `target` aside (`target.old-<hex>`),
  2. renames `staged` to `target`,

and only when every pair is in place

  3. deletes the set-aside old outputs.

If step 1 or 2 fails for any pair, every pair done so far is undone: the new
output goes back to its staged name and the old one back to `target`, then
the error is raised. A failure in step 3 leaves the new output published and
the old one at its `.old-<hex>` name (logged, not raised). So a reader sees
either the old output or the new one, never neither; a SIGKILL between steps
1 and 2 leaves the old output at its `.old-<hex>` name.

`check_not_an_input` refuses a target that equals or contains one of the
command's inputs, so that replacing the target can never delete what the
command reads (`export_tfhub.py --export_dir=<parent of model_dir>
--overwrite`).

Paths go through a `FileOps` (local `os` calls, `tf.io.gfile` for gs:// and
other TensorFlow file systems, or Beam's `FileSystems`).
"""
import dataclasses
import os
import shutil
import uuid
from typing import Callable, Iterable, Optional, Sequence, Tuple

from absl import logging


@dataclasses.dataclass(frozen=True)
class FileOps:
  """The three file-system calls `publish` needs.

  Attributes:
    exists: path → whether a file or directory is there.
    rename: (source, destination) → None; the destination must not exist.
    delete: path → None; deletes a file or a whole directory tree.
  """
  exists: Callable[[str], bool]
  rename: Callable[[str, str], None]
  delete: Callable[[str], None]


def _local_delete(path: str) -> None:
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  else:
    os.remove(path)


# Looked up at call time (a patched `os.rename` simulates a full disk).
LOCAL = FileOps(exists=lambda path: os.path.lexists(path),  # pylint: disable=unnecessary-lambda
                rename=lambda src, dst: os.rename(src, dst),
                delete=lambda path: _local_delete(path))  # pylint: disable=unnecessary-lambda


def gfile_ops() -> FileOps:
  """`FileOps` of `tf.io.gfile` (local paths, gs://, ...)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def delete(path: str) -> None:
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    else:
      tf.io.gfile.remove(path)

  return FileOps(exists=tf.io.gfile.exists,
                 rename=lambda src, dst: tf.io.gfile.rename(src, dst),
                 delete=delete)


def staging_path(target: str) -> str:
  """A fresh sibling name of `target` to write the new output to."""
  target = target.rstrip("/")
  return f"{target}.tmp-{uuid.uuid4().hex}"


def publish(moves: Sequence[Tuple[str, str]], ops: FileOps = LOCAL) -> None:
  """Moves each staged output to its target; all or nothing (module doc).

  Args:
    moves: (staged path, target path) pairs, moved in this order (put a
      completion marker, e.g. a report, last).
    ops: the file system calls.

  Raises:
    Whatever `ops.rename` raised in steps 1–2, after the rollback.
  """
  asides = []  # (target, aside) of old outputs set aside.
  done = []  # (staged, target) moved in.
  try:
    for staged, target in moves:
      if ops.exists(target):
        aside = f"{target.rstrip('/')}.old-{uuid.uuid4().hex}"
        ops.rename(target, aside)
        asides.append((target, aside))
      ops.rename(staged, target)
      done.append((staged, target))
  except BaseException:
    _roll_back(done, asides, ops)
    raise
  for target, aside in asides:
    try:
      ops.delete(aside)
    except Exception as e:  # pylint: disable=broad-except
      logging.warning("Published %s, but could not delete the old output "
                      "set aside at %s: %s", target, aside, e)


def _roll_back(done, asides, ops: FileOps) -> None:
  """Undoes `publish`'s steps 1–2 in reverse order, as far as it can."""
  for staged, target in reversed(done):
    try:
      ops.rename(target, staged)
    except Exception as e:  # pylint: disable=broad-except
      logging.error("Rollback: could not move %s back to %s: %s", target,
                    staged, e)
  for target, aside in reversed(asides):
    try:
      ops.rename(aside, target)
    except Exception as e:  # pylint: disable=broad-except
      logging.error("Rollback: could not restore the old output %s from "
                    "%s: %s", target, aside, e)


def replace_dir(staged_dir: str, target_dir: str,
                ops: FileOps = LOCAL) -> None:
  """`publish([(staged_dir, target_dir)])`; a failed staged dir is deleted.

  Raises:
    Whatever `publish` raised; then `staged_dir` is deleted too (best
    effort) and the old `target_dir`, if any, is back in place.
  """
  try:
    publish([(staged_dir, target_dir)], ops)
  except BaseException:
    try:
      if ops.exists(staged_dir):
        ops.delete(staged_dir)
    except Exception as e:  # pylint: disable=broad-except
      logging.error("Could not delete the staged output %s: %s", staged_dir,
                    e)
    raise


def _is_local(path: str) -> bool:
  return "://" not in path


def _normalized(path: str) -> str:
  if _is_local(path):
    return os.path.realpath(os.path.abspath(path))
  return path.rstrip("/")


def check_not_an_input(target: str, inputs: Iterable[Tuple[str, Optional[str]]],
                       flag: str = "output") -> None:
  """Refuses a `target` that equals or contains one of `inputs`.

  Args:
    target: the output path the command would replace.
    inputs: (what, path) pairs, e.g. ("--model_dir", "runs/b7"); None paths
      are skipped. Symbolic links are resolved for local paths.
    flag: the target's name in the message, e.g. "--export_dir".

  Raises:
    ValueError: naming the target and the input it would delete.
  """
  out = _normalized(target)
  for what, path in inputs:
    if not path:
      continue
    source = _normalized(path)
    if source == out or source.startswith(out.rstrip("/") + "/"):
      relation = "is" if source == out else "contains"
      raise ValueError(
          f"{flag} {target} {relation} the input {what} {path}; replacing it "
          f"would delete what this command reads. Choose another {flag}.")
