# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Optional dependencies: the wheel's extras and the error naming them.

    pip install 'align-tf[beam]'     # filtering (Apache Beam)
    pip install 'align-tf[search]'   # ScaNN index of official.align.search
    pip install 'align-tf[hf]'       # model.safetensors of the HF converter

`requirements.txt` (what `make` installs) has all of them.
"""
import importlib
from types import ModuleType

# Extra → the modules it provides (setup.py's extras_require lists the
# packages).
EXTRAS = {"beam": ("apache_beam",), "search": ("scann",),
          "hf": ("safetensors",)}


class MissingExtraError(ImportError):
  """An optional dependency is not installed; the message names the extra."""


def require(module: str, extra: str, what: str = "This") -> ModuleType:
  """Imports `module`, or raises `MissingExtraError` naming `extra`.

  Args:
    module: e.g. "scann" or "safetensors.numpy".
    extra: the extra that installs it (a key of `EXTRAS`).
    what: what needs it, for the message (e.g. "Reading model.safetensors").
  """
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise MissingExtraError(
        f"{what} needs {module.split('.')[0]}, which is not installed: "
        f"pip install 'align-tf[{extra}]' (or pip install -r "
        f"requirements.txt in a source checkout).") from e
