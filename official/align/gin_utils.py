# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Gin plumbing shared by the command lines: parsing files, isolation.

* `parse_gin` parses the `--gin_file`s and `--gin_bindings` of a command,
  failing fast with one-line errors; configs read back from a run dir are
  checked first (`run_dir_config`) and old binding names translated.
* `isolated_config` runs a block on an empty gin configuration and puts the
  caller's configuration back afterwards, so that loading a run dir (whose
  model is built from its recorded config) never changes the configuration
  of the process that loads it.
"""
import contextlib
import os
import re
from typing import Optional, Sequence

import gin
from gin import config as gin_config
import tensorflow as tf

from official.align import run_dir_config

_SEARCH_PATHS = set()


@contextlib.contextmanager
def isolated_config():
  """Runs the body on an empty gin config; restores the caller's config.

  Gin keeps one process-wide configuration and offers no public way to set
  it aside, so this saves and restores gin's module state (bindings,
  imports, operative record, singletons, lock) itself.
  """
  # pylint: disable=protected-access
  saved = ({k: dict(v) for k, v in gin_config._CONFIG.items()},
           set(gin_config._IMPORTS),
           {k: dict(v) for k, v in gin_config._OPERATIVE_CONFIG.items()},
           dict(gin_config._SINGLETONS), gin.config_is_locked())
  try:
    gin.clear_config()  # Also unlocks it.
    yield
  finally:
    gin.clear_config()
    gin_config._CONFIG.update(saved[0])
    gin_config._IMPORTS.update(saved[1])
    gin_config._OPERATIVE_CONFIG.update(saved[2])
    gin_config._SINGLETONS.update(saved[3])
    gin_config._set_config_is_locked(saved[4])
  # pylint: enable=protected-access


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
  file, and the binding names of older run dirs are translated
  (`run_dir_config.translate_legacy`), as are those of `gin_bindings`.

  Raises:
    IOError: a gin file is missing.
    run_dir_config.UntrustedConfigError: (a ValueError) see above.
    ValueError: gin's errors (syntax errors too).
  """
  texts = []
  for path in gin_files or []:
    if not tf.io.gfile.exists(path):
      raise IOError(f"Gin file not found: {path}")
    # `include 'x.gin'` inside a config resolves next to that config too.
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in _SEARCH_PATHS:
      gin.add_config_file_search_path(directory)
      _SEARCH_PATHS.add(directory)
    if _is_run_dir_config(path, model_dir):
      texts.append((path, run_dir_config.translate_legacy(
          run_dir_config.read_checked(path))))
    else:
      texts.append((path, None))
  bindings = [run_dir_config.translate_legacy(b) for b in gin_bindings or []]
  with run_dir_config.gin_syntax_errors_as_value_errors(), _legacy_hint():
    with gin.unlock_config():
      for path, text in texts:
        if text is None:
          gin.parse_config_file(path)
        else:
          gin.parse_config(text)
      gin.parse_config(bindings)
    gin.finalize()


@contextlib.contextmanager
def _legacy_hint():
  """Names the new owner of an old binding in a gin file of the user's."""
  try:
    yield
  except ValueError as e:
    match = re.search(r"Configurable '(\w+)' (?:doesn't have a parameter "
                      r"named|has denylisted kwarg) '(\w+)'", str(e))
    key = match and f"{match.group(1)}.{match.group(2)}"
    if key not in run_dir_config.LEGACY_BINDINGS:
      raise
    raise ValueError(
        f"{key} is now {run_dir_config.LEGACY_BINDINGS[key]} (the "
        f"preprocessing and the task's data are bound once): {e}") from e
