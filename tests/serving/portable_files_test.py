# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Tests of writing the portable exports' model files."""
import pytest

from official.align.serving import portable_files


def test_writes_each_model_asked_for_and_returns_sizes(tmp_path):
  built = []

  def build(name):
    built.append(name)
    return name.encode() * 3

  out = tmp_path / "new" / "dir"
  sizes = portable_files.write_model_files(str(out), ["b.bin"],
                                           ("a.bin", "b.bin"), build)
  assert sizes == {"b.bin": 15}
  assert built == ["b.bin"]
  assert sorted(p.name for p in out.iterdir()) == ["b.bin"]
  assert (out / "b.bin").read_bytes() == b"b.binb.binb.bin"


def test_unknown_model_is_refused_before_anything_is_built(tmp_path):
  def build(name):
    raise AssertionError(f"built {name}")

  with pytest.raises(ValueError, match=r"Unknown models \['c.bin'\]; choose "
                     r"from \('a.bin',\)"):
    portable_files.write_model_files(str(tmp_path / "out"),
                                     ["a.bin", "c.bin"], ("a.bin",), build)
  assert not (tmp_path / "out").exists()
