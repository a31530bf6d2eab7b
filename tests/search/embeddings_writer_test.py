"""Writing an embeddings directory: a unit is done once its shard and then
its summary are in place; the manifest; stale temporaries; another run's
embeddings refused."""
import json
import os

import pytest

from official.align.search import embedding_shards
from official.align.search import embeddings_writer


def _summary(name, model="hub/A", dtype="float32"):
  return {"name": name, "model": model, "dtype": dtype, "count": 1}


def test_published_units_are_read_back_as_done(tmp_path):
  out = str(tmp_path)
  names = [embedding_shards.shard_name([f"input-{i}"]) for i in range(3)]
  for name in names[:2]:
    embeddings_writer.publish_unit(out, name, b"shard bytes", _summary(name))
  assert sorted(os.listdir(out)) == sorted(
      n for name in names[:2]
      for n in (name, name.replace(".npz", ".json")))
  with open(os.path.join(out, names[0]), "rb") as f:
    assert f.read() == b"shard bytes"
  assert embeddings_writer.read_summaries(out) == {
      name: _summary(name) for name in names[:2]}
  # A summary without its shard, or naming another shard, is not a unit
  # done.
  os.remove(os.path.join(out, names[1]))
  with open(os.path.join(out, names[2].replace(".npz", ".json")), "w") as f:
    json.dump(_summary(names[0]), f)
  assert embeddings_writer.read_summaries(out) == {
      names[0]: _summary(names[0])}


def test_another_model_or_dtype_is_refused():
  done = {"a": _summary("a")}
  embeddings_writer.check_same_run(done, "hub/A", "float32", "out")
  with pytest.raises(ValueError, match=r"out holds embeddings of hub/A "
                     r"\(float32\), not hub/B \(float32\)"):
    embeddings_writer.check_same_run(done, "hub/B", "float32", "out")
  with pytest.raises(ValueError, match="not hub/A \\(float16\\)"):
    embeddings_writer.check_same_run(done, "hub/A", "float16", "out")


def test_manifest_and_stale_temporaries(tmp_path):
  out = str(tmp_path)
  (tmp_path / "embeddings-0123456789abcdef.npz.tmp-killed").write_bytes(b"x")
  (tmp_path / "kept.txt").write_text("not ours")
  embeddings_writer.write_manifest(out, {"count": 3})
  with open(os.path.join(out, embedding_shards.MANIFEST)) as f:
    assert json.load(f) == {"count": 3}
  embeddings_writer.delete_stale_temporaries(out)
  assert sorted(os.listdir(out)) == ["kept.txt", embedding_shards.MANIFEST]
