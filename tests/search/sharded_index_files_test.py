"""A sharded index directory: an interrupted save leaves nothing, and a load
refuses a damaged, swapped, unlisted, missing or linked shard, naming it."""
import json
import os

import numpy as np
import pytest

from official.align.search import index as index_lib
from official.align.search import index_files
from official.align.search import sharded_index
import synthetic_vectors

DIM = 32


@pytest.fixture(scope="module")
def data():
  embeddings = synthetic_vectors.clustered(4000, DIM, 40, seed=0)
  return embeddings, [f"item-{i}" for i in range(len(embeddings))]


def test_failed_save_leaves_nothing(tmp_path, data, monkeypatch):
  embeddings, ids = data
  sharded = sharded_index.ShardedIndex.build(embeddings[:30], ids[:30],
                                             vectors_per_shard=10)
  saves = []
  real_save = index_lib.SearchIndex.save

  def save_then_fail(self, path, overwrite=False):
    saves.append(path)
    if len(saves) == 2:
      raise OSError("disk full")
    real_save(self, path, overwrite)

  monkeypatch.setattr(index_lib.SearchIndex, "save", save_then_fail)
  with pytest.raises(OSError, match="disk full"):
    sharded.save(str(tmp_path / "index"))
  assert os.listdir(tmp_path) == []


@pytest.fixture
def saved(tmp_path, data):
  embeddings, ids = data
  sharded = sharded_index.ShardedIndex.build(embeddings[:60], ids[:60],
                                             vectors_per_shard=20)
  sharded.save(str(tmp_path / "index"))
  return tmp_path / "index"


def test_damaged_shard_is_named(saved):
  np.save(saved / "shard-00001" / "embeddings.npy",
          np.eye(20, DIM, dtype=np.float32))
  with pytest.raises(index_files.SearchIndexError,
                     match=r"Shard shard-00001 .*shard-00001/embeddings.npy: "
                     "sha256 "
                     "differs"):
    sharded_index.ShardedIndex.load(str(saved))


def test_swapped_shard_manifest_is_refused(saved):
  # Each shard's own manifest is valid, but not the one the index lists.
  for name in ("manifest.json", "embeddings.npy", "ids.json"):
    os.replace(saved / "shard-00000" / name, saved / "tmp")
    os.replace(saved / "shard-00002" / name, saved / "shard-00000" / name)
    os.replace(saved / "tmp", saved / "shard-00002" / name)
  with pytest.raises(index_files.SearchIndexError,
                     match="Shard shard-00000 .* sha256 differs from the one "
                     "the sharded index"):
    sharded_index.ShardedIndex.load(str(saved))


def test_unlisted_missing_and_linked_entries_are_refused(saved, tmp_path):
  (saved / "shard-00003").mkdir()
  with pytest.raises(index_files.SearchIndexError,
                     match="holds shard-00003, which its manifest.json does "
                     "not list"):
    sharded_index.ShardedIndex.load(str(saved))
  (saved / "shard-00003").rmdir()
  os.rename(saved / "shard-00002", tmp_path / "elsewhere")
  with pytest.raises(index_files.SearchIndexError,
                     match="incomplete: shard shard-00002 is missing"):
    sharded_index.ShardedIndex.load(str(saved))
  os.symlink(tmp_path / "elsewhere", saved / "shard-00002")
  with pytest.raises(index_files.SearchIndexError, match="symbolic link"):
    sharded_index.ShardedIndex.load(str(saved))
  os.remove(saved / "shard-00002")
  os.rename(tmp_path / "elsewhere", saved / "shard-00002")
  manifest = json.loads((saved / "manifest.json").read_text())
  manifest["shards"][0]["count"] = 21
  (saved / "manifest.json").write_text(json.dumps(manifest))
  with pytest.raises(index_files.SearchIndexError, match="do not add up"):
    sharded_index.ShardedIndex.load(str(saved))
