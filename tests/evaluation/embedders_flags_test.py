"""Tests of the model-selection flags of embedders (no model is loaded)."""
from absl import flags
import pytest

from official.align.inference import model_flags
from official.align.inference import embedder as embedder_lib


def _parsed(*args, **define_kw):
  flag_values = flags.FlagValues()
  model_flags.define_model_flags(flag_values=flag_values, **define_kw)
  flag_values(["tool"] + list(args))
  return flag_values


def test_defaults_and_values():
  defaults = _parsed()
  assert model_flags.model_source_from_flags(defaults) == {}
  assert defaults.batch_size == embedder_lib.DEFAULT_BATCH_SIZE
  assert defaults.gin_bindings == []
  given = _parsed("--model_dir=runs/m", "--checkpoint=runs/m/ckpt-3",
                  "--gin_bindings=a.b = 1", "--gin_bindings=c.d = 2",
                  "--batch_size=5")
  assert model_flags.model_source_from_flags(given) == {
      "model_dir": "runs/m", "checkpoint": "runs/m/ckpt-3"}
  assert given.gin_bindings == ["a.b = 1", "c.d = 2"]
  assert given.batch_size == 5


def test_gin_bindings_help_can_be_replaced():
  assert _parsed()["gin_bindings"].help.startswith(
      model_flags.GIN_BINDINGS_HELP)
  assert _parsed(gin_bindings_help="ScaNN too")["gin_bindings"].help.startswith(
      "ScaNN too;")


def test_from_flags_needs_exactly_one_source(tmp_path):
  with pytest.raises(ValueError, match="exactly one"):
    model_flags.from_flags(_parsed())
  with pytest.raises(ValueError, match="exactly one"):
    model_flags.from_flags(_parsed(f"--hub_dir={tmp_path}",
                                 f"--model_dir={tmp_path}"))
  with pytest.raises(FileNotFoundError, match="no_export"):
    model_flags.from_flags(_parsed(f"--hub_dir={tmp_path}/no_export"))
  with pytest.raises(FileNotFoundError, match="no_model"):
    model_flags.from_flags(_parsed(f"--model_dir={tmp_path}/no_model"))
