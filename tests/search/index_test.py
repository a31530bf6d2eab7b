"""SearchIndex: ScaNN and exact search agree, save/load, errors, atomicity."""
import json
import os

import numpy as np
import pytest

from official.align.search import index as index_lib
from official.align.search import index_files
import synthetic_vectors


@pytest.fixture(scope="module")
def data():
  embeddings = synthetic_vectors.clustered(3000, 32, 30, seed=0)
  queries = synthetic_vectors.clustered(40, 32, 30, seed=1)
  return embeddings, [f"item-{i}" for i in range(len(embeddings))], queries


@pytest.fixture(scope="module")
def scann_index(data):
  embeddings, ids, _ = data
  config = index_lib.ScannConfig(num_leaves=30, leaves_to_search=8,
                                 reorder_num_neighbors=100)
  return index_lib.SearchIndex.build(embeddings, ids, kind="scann",
                                     scann_config=config,
                                     metadata={"model": "unit-test"})


def test_scann_returns_exact_top_k_on_a_small_set(data):
  embeddings, ids, queries = data
  # Every leaf scanned and every candidate re-ranked with exact scores:
  # ScaNN must then return exactly the true top 10 (the plumbing of ids,
  # scores and ordering is what is checked; recall is checked below).
  config = index_lib.ScannConfig(num_leaves=30, leaves_to_search=30,
                                 reorder_num_neighbors=len(ids))
  index = index_lib.SearchIndex.build(embeddings, ids, kind="scann",
                                      scann_config=config)
  assert index.kind == "scann"
  indices, scores = index.search_indices(queries, top_k=10)
  expected = synthetic_vectors.naive_top_k(embeddings, queries, 10)
  np.testing.assert_array_equal(indices, expected)
  np.testing.assert_allclose(
      scores, np.take_along_axis(queries @ embeddings.T, expected, axis=1),
      atol=1e-5)
  results = index.search(queries[:1], top_k=3)
  assert [r[0] for r in results[0]] == [ids[i] for i in expected[0, :3]]


def test_scann_partitioned_search_has_high_recall(data, scann_index):
  embeddings, _, queries = data
  indices, _ = scann_index.search_indices(queries, top_k=10)
  expected = synthetic_vectors.naive_top_k(embeddings, queries, 10)
  recall = np.mean([len(set(a) & set(b)) / 10
                    for a, b in zip(indices, expected)])
  # 8 of 30 leaves and quantized scores: most but not always all true
  # neighbours (0.95 measured; ScaNN's training is not deterministic).
  assert recall >= 0.85
  exact, _ = scann_index.search_indices(queries, top_k=10, exact=True)
  np.testing.assert_array_equal(exact, expected)


def test_auto_uses_exact_search_below_min_count(data):
  embeddings, ids, queries = data
  index = index_lib.SearchIndex.build(embeddings[:500], ids[:500])
  assert index.kind == "brute_force"
  indices, _ = index.search_indices(queries, top_k=5)
  np.testing.assert_array_equal(
      indices, synthetic_vectors.naive_top_k(embeddings[:500], queries, 5))
  # top_k above the size returns every row.
  assert index.search_indices(queries[:2], top_k=900)[0].shape == (2, 500)


@pytest.mark.parametrize("kind", ["scann", "brute_force"])
def test_save_load_roundtrip(tmp_path, data, scann_index, kind):
  embeddings, ids, queries = data
  index = scann_index if kind == "scann" else index_lib.SearchIndex.build(
      embeddings, ids, kind="brute_force", metadata={"model": "unit-test"})
  index.save(str(tmp_path / "index"))
  # Moving the directory keeps it loadable (relative ScaNN asset paths).
  os.rename(tmp_path / "index", tmp_path / "moved")
  loaded = index_lib.SearchIndex.load(str(tmp_path / "moved"))
  assert loaded.kind == kind and len(loaded) == len(ids)
  assert loaded.ids == ids and loaded.metadata == {"model": "unit-test"}
  np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
  for a, b in zip(loaded.search_indices(queries, 10),
                  index.search_indices(queries, 10)):
    np.testing.assert_array_equal(a, b)
  manifest = json.loads((tmp_path / "moved" / "manifest.json").read_text())
  assert (manifest["count"], manifest["embed_dim"], manifest["kind"]) == (
      3000, 32, kind)
  assert sorted(os.listdir(tmp_path)) == ["moved"]  # No temporary left.


def test_failed_save_leaves_nothing(tmp_path, data, monkeypatch):
  embeddings, ids, _ = data
  index = index_lib.SearchIndex.build(embeddings[:10], ids[:10])

  def crash(*args, **kwargs):
    raise OSError("disk full")

  monkeypatch.setattr(index_lib.json, "dump", crash)
  with pytest.raises(OSError, match="disk full"):
    index.save(str(tmp_path / "index"))
  assert os.listdir(tmp_path) == []


def test_save_refuses_existing_dir_unless_overwrite(tmp_path, data):
  embeddings, ids, _ = data
  (tmp_path / "index").mkdir()
  index = index_lib.SearchIndex.build(embeddings[:10], ids[:10])
  with pytest.raises(FileExistsError):
    index.save(str(tmp_path / "index"))
  index.save(str(tmp_path / "index"), overwrite=True)
  assert len(index_lib.SearchIndex.load(str(tmp_path / "index"))) == 10
  assert sorted(os.listdir(tmp_path)) == ["index"]


def test_load_errors_name_the_problem(tmp_path, data):
  with pytest.raises(FileNotFoundError, match="No search index directory"):
    index_lib.SearchIndex.load(str(tmp_path / "missing"))
  (tmp_path / "partial").mkdir()
  (tmp_path / "partial" / "embeddings.npy").write_bytes(b"")
  with pytest.raises(index_lib.SearchIndexError, match="not a complete"):
    index_lib.SearchIndex.load(str(tmp_path / "partial"))
  embeddings, ids, _ = data
  index = index_lib.SearchIndex.build(embeddings[:10], ids[:10])
  index.save(str(tmp_path / "index"))
  (tmp_path / "index" / "manifest.json").write_text("{not json")
  with pytest.raises(index_lib.SearchIndexError, match="Cannot read"):
    index_lib.SearchIndex.load(str(tmp_path / "index"))
  index.save(str(tmp_path / "index"), overwrite=True)
  np.save(tmp_path / "index" / "embeddings.npy", embeddings[:9])
  with pytest.raises(index_lib.SearchIndexError,
                     match="embeddings.npy: sha256 differs"):
    index_lib.SearchIndex.load(str(tmp_path / "index"))
  # Consistent files of the wrong shape (manifest rewritten to match).
  manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
  manifest["files"]["embeddings.npy"] = index_files.sha256(
      str(tmp_path / "index" / "embeddings.npy"))
  (tmp_path / "index" / "manifest.json").write_text(json.dumps(manifest))
  with pytest.raises(index_lib.SearchIndexError, match="manifest says 10"):
    index_lib.SearchIndex.load(str(tmp_path / "index"))


def test_bad_inputs(data):
  embeddings, ids, queries = data
  index = index_lib.SearchIndex.build(embeddings[:10], ids[:10],
                                      metadata={"model": "hub/A"})
  with pytest.raises(ValueError, match=r"size 16 .* 32-d .*hub/A"):
    index.search_indices(np.ones([1, 16]))
  with pytest.raises(ValueError, match="zero or not finite"):
    index.search_indices(np.zeros([1, 32]))
  with pytest.raises(ValueError, match="top_k"):
    index.search_indices(queries[:1], top_k=0)
  with pytest.raises(ValueError, match="ids for"):
    index_lib.SearchIndex.build(embeddings[:3], ids[:2])
  with pytest.raises(ValueError, match="kind"):
    index_lib.SearchIndex.build(embeddings[:3], ids[:3], kind="hnsw")
  bad = embeddings[:3].copy()
  bad[1] = np.nan
  with pytest.raises(ValueError, match="row 1"):
    index_lib.SearchIndex.build(bad, ids[:3])
