# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Gin configs read back from a run dir: bindings only, no code.

A gin file is code: `import` runs a module, `include` reads any other file,
and `from __gin__ import dynamic_registration` lets a binding call any
Python function (e.g. `subprocess.getoutput`). The configs this package
writes into a run dir (`operative_config.gin` of `runtime.trainer.train` and of
the Hugging Face converter) need none of that beyond importing modules of
this package, but a run dir may come from someone else. `check_config`
scans such a config with gin's own parser, before gin executes anything,
and refuses

  * `include` lines;
  * `from __gin__ import ...` (dynamic registration and other features);
  * `import` of any module outside `official.align` (this package's modules
    are trusted code and define the configurables the config binds).

Readers: `run_dir.restore_model` (export, evaluation, search with
--model_dir) and `gin_utils.parse_gin` for a `--gin_file` named
`operative_config.gin` or lying in `--model_dir`.
`gin_syntax_errors_as_value_errors` turns gin's syntax errors (SyntaxError,
tokenize.TokenError) into the one-line ValueError the CLIs print.

Run dirs written before preprocessing was declared once (`Preprocessing`)
bind `InputReader.image_size`, `TrainConfig.vocab_file`, ...;
`translate_legacy` renames those bindings (and those of a user's
`--gin_bindings`) to the configurables that now own them.
"""
import contextlib
import re
import tokenize

from gin import config_parser
import tensorflow as tf

OPERATIVE_CONFIG = "operative_config.gin"
# Old binding → its owner now (`translate_legacy`).
LEGACY_BINDINGS = {
    "InputReader.image_size": "Preprocessing.image_size",
    "InputReader.resize_size": "Preprocessing.resize_size",
    "InputReader.pixel_range": "Preprocessing.pixel_range",
    "InputReader.seq_length": "Preprocessing.seq_length",
    "InputReader.lower_case": "Preprocessing.lower_case",
    "ClassificationInputReader.image_size": "Preprocessing.image_size",
    "ClassificationInputReader.resize_size": "Preprocessing.resize_size",
    "ClassificationInputReader.pixel_range": "Preprocessing.pixel_range",
    "build_align_model.image_size": "Preprocessing.image_size",
    "build_align_model.seq_length": "Preprocessing.seq_length",
    "build_classifier_model.image_size": "Preprocessing.image_size",
    "TrainConfig.vocab_file": "Preprocessing.vocab_file",
    "TrainConfig.train_file_pattern": "AlignTask.train_file_pattern",
    "TrainConfig.eval_file_pattern": "build_demo_evaluator.eval_file_pattern",
    "TrainConfig.eval_labels_file": "build_demo_evaluator.labels_file",
}
LEGACY_MODULES = {
    "official.align.transfer.classification_task":
        "official.align.tasks.classification_task",
}
_BINDING_KEY = re.compile(
    r"^(?P<scope>\s*(?:[\w.]+/)*)(?P<key>[\w.]+\.\w+)(?P<rest>\s*=.*)$")
TRUSTED_MODULE = re.compile(r"official\.align(\.[A-Za-z_][A-Za-z0-9_]*)*")


class UntrustedConfigError(ValueError):
  """A run-dir config holds a statement that would run or read code."""


class _Placeholders(config_parser.ParserDelegate):
  """Parses references and macros without resolving them."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return (scoped_configurable_name, evaluate)

  def macro(self, macro_name):
    return macro_name


def check_config(text: str, path: str) -> None:
  """Raises `UntrustedConfigError` on the first statement refused (module doc).

  Args:
    text: the gin config.
    path: where it was read, for the message.

  Raises:
    UntrustedConfigError: naming the file, the line number and the line.
    ValueError: gin cannot parse the config.
  """
  with gin_syntax_errors_as_value_errors(path):
    statements = list(config_parser.ConfigParser(text, _Placeholders()))
  for statement in statements:
    if isinstance(statement, config_parser.IncludeStatement):
      reason = "`include` reads another file"
    elif isinstance(statement, config_parser.ImportStatement):
      if statement.module.startswith("__gin__"):
        reason = ("`from __gin__ import` enables dynamic registration, "
                  "which lets a binding call any Python function")
      elif not TRUSTED_MODULE.fullmatch(statement.module):
        reason = "`import` of a module outside official.align runs its code"
      else:
        continue
    else:
      continue
    location = statement.location
    raise UntrustedConfigError(
        f"{path}:{location.line_num}: refused "
        f"{location.line_content.strip()!r}: {reason}. A config read back "
        "from a run dir may only bind parameters (a gin file is code); if "
        "you trust it, review it and pass a copy outside the run dir with "
        "another name.")


@contextlib.contextmanager
def gin_syntax_errors_as_value_errors(source: str = ""):
  """Re-raises gin's syntax errors (SyntaxError, TokenError) as ValueError.

  Args:
    source: what was parsed (a path), for the message.
  """
  try:
    yield
  except (SyntaxError, tokenize.TokenError) as e:
    detail = e.msg if isinstance(e, SyntaxError) else e.args[0]
    where = (getattr(e, "text", None) or "").strip()
    raise ValueError(
        "Gin syntax error" + (f" in {source}" if source else "")
        + f": {detail}" + (f" at {where!r}" if where else "")) from e


def read_checked(path: str) -> str:
  """The text of the run-dir config at `path`, checked by `check_config`."""
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  check_config(text, path)
  return text


def translate_legacy(text: str) -> str:
  """`text` with the bindings of the old layout renamed (`LEGACY_BINDINGS`).

  `TrainConfig.task = None` (the old default, `AlignTask`) is dropped: the
  ALIGN driver (`train.py`) supplies that default now. An old run that
  evaluated on the demo world (`TrainConfig.eval_labels_file` set) gets its
  evaluator plugged into `AlignTask` as the new demo config does.

  Args:
    text: gin config text (a run dir's operative config, or bindings).

  Returns:
    The translated text; unchanged if it uses the new names only.
  """
  lines, evaluates = [], False
  for line in text.splitlines():
    match = _BINDING_KEY.match(line)
    if match and match.group("key") in LEGACY_BINDINGS:
      key = match.group("key")
      evaluates |= (key == "TrainConfig.eval_labels_file" and
                    match.group("rest").split("=", 1)[1].strip() != "None")
      line = match.group("scope") + LEGACY_BINDINGS[key] + match.group("rest")
    elif match and match.group("key") == "TrainConfig.task" and (
        match.group("rest").split("=", 1)[1].strip() == "None"):
      continue
    for old, new in LEGACY_MODULES.items():
      line = re.sub(rf"^(\s*import\s+){re.escape(old)}\b", rf"\g<1>{new}",
                    line)
    lines.append(line)
  if evaluates:
    lines += ["import official.align.demo.evaluator",
              "AlignTask.evaluator_fn = @build_demo_evaluator"]
  return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def without_imports(text: str) -> str:
  """`text` without its `import` lines (checked configs only).

  Loading a run dir parses its config with unknown configurables skipped:
  the model's configurables are registered by the loader, and the run's
  training configurables (optimizer, trainer, task) are not needed, so their
  modules are not imported.
  """
  return "\n".join(line for line in text.splitlines()
                   if not re.match(r"^\s*import\s", line)) + "\n"
