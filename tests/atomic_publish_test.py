"""atomic_publish: replace with rollback, a failure injected at each step."""
import os

import pytest

from official.align import atomic_publish


def _write_dir(path, text):
  os.makedirs(path)
  with open(os.path.join(path, "data.txt"), "w") as f:
    f.write(text)


def _read(path):
  with open(os.path.join(path, "data.txt")) as f:
    return f.read()


class FailingOps:
  """`atomic_publish.LOCAL` whose `fail_at`-th call of `kind` raises."""

  def __init__(self, kind, fail_at):
    self.kind, self.fail_at, self.calls = kind, fail_at, {"rename": 0,
                                                          "delete": 0}

  def ops(self):
    def call(kind, fn):
      def wrapped(*args):
        self.calls[kind] += 1
        if kind == self.kind and self.calls[kind] == self.fail_at:
          raise OSError(f"simulated failure in {kind} #{self.fail_at}")
        return fn(*args)
      return wrapped
    return atomic_publish.FileOps(
        exists=os.path.lexists,
        rename=call("rename", os.rename),
        delete=call("delete", atomic_publish.LOCAL.delete))


def test_replace_dir_swaps_and_deletes_the_old_output(tmp_path):
  target, staged = str(tmp_path / "out"), str(tmp_path / "staged")
  _write_dir(target, "old")
  _write_dir(staged, "new")
  atomic_publish.replace_dir(staged, target)
  assert _read(target) == "new"
  assert sorted(os.listdir(tmp_path)) == ["out"]


def test_replace_dir_into_a_new_target(tmp_path):
  target, staged = str(tmp_path / "out"), str(tmp_path / "staged")
  _write_dir(staged, "new")
  atomic_publish.replace_dir(staged, target)
  assert _read(target) == "new"
  assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("step", ["rename old aside", "move new in"])
def test_failed_replace_keeps_the_old_output(tmp_path, step):
  target, staged = str(tmp_path / "out"), str(tmp_path / "staged")
  _write_dir(target, "old")
  _write_dir(staged, "new")
  failing = FailingOps("rename", 1 if step == "rename old aside" else 2)
  with pytest.raises(OSError, match="simulated failure"):
    atomic_publish.replace_dir(staged, target, failing.ops())
  assert _read(target) == "old"
  # The staged output is deleted, nothing else is left behind.
  assert sorted(os.listdir(tmp_path)) == ["out"]


def test_failed_delete_of_the_old_output_keeps_the_new_one(tmp_path):
  target, staged = str(tmp_path / "out"), str(tmp_path / "staged")
  _write_dir(target, "old")
  _write_dir(staged, "new")
  atomic_publish.replace_dir(staged, target, FailingOps("delete", 1).ops())
  assert _read(target) == "new"
  (aside,) = [n for n in os.listdir(tmp_path) if n != "out"]
  assert aside.startswith("out.old-") and _read(tmp_path / aside) == "old"


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_failed_multi_file_publish_is_undone(tmp_path, fail_at):
  """Two files, the second over an old one: renames 1 (a in), 2 (old b
  aside), 3 (b in) fail in turn; 4 is never reached (success)."""
  staging, out = tmp_path / "staging", tmp_path / "out"
  staging.mkdir()
  out.mkdir()
  (staging / "a").write_text("new a")
  (staging / "b").write_text("new b")
  (out / "b").write_text("old b")
  moves = [(str(staging / n), str(out / n)) for n in ("a", "b")]
  failing = FailingOps("rename", fail_at)
  if fail_at == 4:
    atomic_publish.publish(moves, failing.ops())
    assert {n: (out / n).read_text() for n in os.listdir(out)} == {
        "a": "new a", "b": "new b"}
    assert os.listdir(staging) == []
    return
  with pytest.raises(OSError, match="simulated failure"):
    atomic_publish.publish(moves, failing.ops())
  assert {n: (out / n).read_text() for n in os.listdir(out)} == {"b": "old b"}
  assert sorted(os.listdir(staging)) == ["a", "b"]


def test_check_not_an_input_refuses_the_input_or_its_parent(tmp_path):
  model_dir = tmp_path / "run" / "model"
  model_dir.mkdir(parents=True)
  inputs = [("--model_dir", str(model_dir))]
  for target in (model_dir, tmp_path / "run", tmp_path):
    with pytest.raises(ValueError) as e:
      atomic_publish.check_not_an_input(str(target), inputs, "--export_dir")
    assert "\n" not in str(e.value) and str(model_dir) in str(e.value)
  # Through a symbolic link too.
  os.symlink(tmp_path / "run", tmp_path / "link")
  with pytest.raises(ValueError, match="contains the input --model_dir"):
    atomic_publish.check_not_an_input(str(tmp_path / "link"), inputs)
  # Inside the input, or beside it, is fine.
  atomic_publish.check_not_an_input(str(model_dir / "export"), inputs)
  atomic_publish.check_not_an_input(str(tmp_path / "run" / "model2"), inputs)
