# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""A search index in shards: one `SearchIndex` per group of rows, merged.

A collection too large for one index (160M images x 640 float32 is 410 GB)
is split into shards of about `vectors_per_shard` rows, each an ordinary
`index.SearchIndex` (ScaNN or exact, float32 or int8 storage). A query goes
to every shard and the per-shard top k are merged by score (ties by global
row): over exact shards this is exactly the top k of one exact index over
all rows, same ids and same scores (`exact_search.exact_top_k` scores each
row in a fixed order, whatever its shard); over ScaNN shards recall is
measured in benchmarks/sharded_index.py. Global row numbers follow the
shards' order.

`ShardedIndex` answers as a `SearchIndex` does (`search`, `search_indices`,
`ids`, `embeddings`, `embed_dim`, `metadata`, `len`), so the CLI, the Python
API, the notebooks and the search page take either (`load_index`).

On disk, a manifest and one `SearchIndex` directory per shard, saved
atomically and loaded as data from someone else (`sharded_index_files`);
a load error names the shard.

  index = sharded_index.build_from_embedding_shards(
      "runs/embeddings", "runs/index", vectors_per_shard=1_000_000)
  index = sharded_index.load_index("runs/index")  # Sharded or not.
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from absl import logging
import numpy as np

from official.align.search import embedding_shards
from official.align.search import index as index_lib
from official.align.search import index_files
from official.align.search import sharded_index_files
from official.align.search import vectors

DEFAULT_VECTORS_PER_SHARD = 1_000_000

AnyIndex = Union[index_lib.SearchIndex, "ShardedIndex"]


class ShardedIndex:
  """Top-k search over shards of unit embeddings (see the module doc)."""

  def __init__(self, shards: Sequence[index_lib.SearchIndex],
               metadata: Optional[Dict[str, Any]] = None):
    """Use `build`, `build_from_embedding_shards` or `load`.

    Raises:
      ValueError: no shard, or shards of different embedding sizes.
    """
    if not shards:
      raise ValueError("A sharded index needs at least one shard.")
    dims = {s.embed_dim for s in shards}
    if len(dims) != 1:
      raise ValueError(f"Shards hold embeddings of different sizes: {dims}.")
    self._shards = list(shards)
    self._offsets = np.cumsum([0] + [len(s) for s in shards])
    self._metadata = dict(metadata or {})
    self._ids = None

  @classmethod
  def build(cls, embeddings: np.ndarray, ids: Sequence[str],
            vectors_per_shard: int = DEFAULT_VECTORS_PER_SHARD,
            kind: str = "auto",
            scann_config: Optional[index_lib.ScannConfig] = None,
            storage: str = "float32",
            metadata: Optional[Dict[str, Any]] = None) -> "ShardedIndex":
    """Indexes `embeddings` in shards of `vectors_per_shard` rows (in memory).

    Args:
      embeddings: float [count, embed_dim].
      ids: `count` strings.
      vectors_per_shard: rows per shard (the last may hold fewer).
      kind, scann_config, storage: of every shard (`SearchIndex.build`).
      metadata: JSON-serialisable facts kept in the manifest.
    """
    if vectors_per_shard < 1:
      raise ValueError(f"vectors_per_shard must be >= 1, got "
                       f"{vectors_per_shard}.")
    if len(ids) != len(embeddings):
      raise ValueError(f"{len(ids)} ids for {len(embeddings)} embeddings.")
    shards = [index_lib.SearchIndex.build(
        embeddings[start:start + vectors_per_shard],
        ids[start:start + vectors_per_shard], kind=kind,
        scann_config=scann_config, storage=storage)
              for start in range(0, len(ids), vectors_per_shard)]
    return cls(shards, metadata)

  @property
  def kind(self) -> str:
    return sharded_index_files.KIND

  @property
  def shards(self) -> List[index_lib.SearchIndex]:
    return list(self._shards)

  @property
  def shard_kind(self) -> str:
    """The shards' kind ("scann", "brute_force", or "mixed")."""
    kinds = {s.kind for s in self._shards}
    return kinds.pop() if len(kinds) == 1 else "mixed"

  @property
  def storage(self) -> str:
    storages = {s.storage for s in self._shards}
    return storages.pop() if len(storages) == 1 else "mixed"

  @property
  def embed_dim(self) -> int:
    return self._shards[0].embed_dim

  @property
  def ids(self) -> List[str]:
    """Every shard's ids, in global row order (built on first use)."""
    if self._ids is None:
      self._ids = [i for s in self._shards for i in s.ids]
    return self._ids

  @property
  def embeddings(self) -> vectors.RowView:
    """float32 rows by global row number, read from their shards."""
    return vectors.RowView(self._rows, len(self), self.embed_dim)

  def _rows(self, rows: np.ndarray) -> np.ndarray:
    out = np.empty([len(rows), self.embed_dim], np.float32)
    shard_of = np.searchsorted(self._offsets, rows, side="right") - 1
    for number in np.unique(shard_of):
      mask = shard_of == number
      out[mask] = self._shards[number].embeddings[
          rows[mask] - self._offsets[number]]
    return out

  @property
  def metadata(self) -> Dict[str, Any]:
    return dict(self._metadata)

  def __len__(self) -> int:
    return int(self._offsets[-1])

  def search_indices(self, queries: np.ndarray, top_k: int = 10,
                     exact: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Global row numbers and scores of the top-k rows for each query.

    Every shard answers its own top k; the union is ordered by score, then
    global row, and cut to k. Arguments, returns and errors as
    `SearchIndex.search_indices`.
    """
    queries = self._shards[0].check_queries(queries, top_k)
    top_k = min(top_k, len(self))
    found, scores = [], []
    for offset, shard in zip(self._offsets, self._shards):
      rows, shard_scores = shard.search_indices(queries, top_k, exact)
      # ScaNN pads with -1 when a query's leaves hold fewer than k rows.
      shard_scores = np.where(rows < 0, -np.inf, shard_scores)
      found.append(np.where(rows < 0, len(self), rows + offset))
      scores.append(shard_scores)
    found = np.concatenate(found, axis=1)
    scores = np.concatenate(scores, axis=1)
    order = np.lexsort((found, -scores), axis=1)[:, :top_k]
    return (np.take_along_axis(found, order, axis=1),
            np.take_along_axis(scores, order, axis=1).astype(np.float32))

  def search(self, queries: np.ndarray, top_k: int = 10,
             exact: bool = False) -> List[List[Tuple[str, float]]]:
    """[(id, score), ...] best first, one list per query."""
    indices, scores = self.search_indices(queries, top_k, exact)
    return [[(self._id(i), float(s)) for i, s in zip(row_i, row_s)
             if np.isfinite(s)]
            for row_i, row_s in zip(indices, scores)]

  def _id(self, row: int) -> str:
    number = int(np.searchsorted(self._offsets, row, side="right") - 1)
    return self._shards[number].ids[row - self._offsets[number]]

  def manifest(self, shard_manifest_sha256: Sequence[str]) -> Dict[str, Any]:
    """What `save` writes to manifest.json."""
    return sharded_index_files.build_manifest(
        [len(s) for s in self._shards], shard_manifest_sha256,
        self.embed_dim, self.storage, self.shard_kind, self._metadata)

  def save(self, index_dir: str, overwrite: bool = False) -> None:
    """Writes every shard, then the manifest, then publishes atomically.

    Raises:
      FileExistsError: `index_dir` exists and not `overwrite`.
    """
    with sharded_index_files.Staging(index_dir, overwrite) as staging:
      digests = [staging.add_shard(shard) for shard in self._shards]
      staging.finish(self.manifest(digests))

  @classmethod
  def load(cls, index_dir: str) -> "ShardedIndex":
    """Loads a sharded index written by `save` (checks: `sharded_index_files`).

    Raises:
      FileNotFoundError: `index_dir` does not exist.
      SearchIndexError: naming the damaged shard or file.
    """
    if not os.path.isdir(index_dir):
      raise FileNotFoundError(f"No search index directory at {index_dir}.")
    manifest = sharded_index_files.read_manifest(index_dir)
    shards = []
    for entry in manifest["shards"]:
      name = entry["name"]
      shard_dir = os.path.join(index_dir, name)
      try:
        sharded_index_files.check_shard_manifest(shard_dir,
                                                 entry["manifest_sha256"])
        shard = index_lib.SearchIndex.load(shard_dir)
      except (FileNotFoundError, index_files.SearchIndexError) as e:
        raise index_files.SearchIndexError(
            f"Shard {name} of the sharded index {index_dir} is damaged: "
            f"{e}") from e
      if len(shard) != entry["count"] or shard.embed_dim != (
          manifest["embed_dim"]):
        raise index_files.SearchIndexError(
            f"Shard {name} of the sharded index {index_dir} holds "
            f"{len(shard)} {shard.embed_dim}-d rows; the manifest says "
            f"{entry['count']} {manifest['embed_dim']}-d.")
      shards.append(shard)
    metadata = {k: v for k, v in manifest.items()
                if k not in sharded_index_files.OWN_KEYS}
    return cls(shards, metadata)


def load_index(index_dir: str) -> AnyIndex:
  """`ShardedIndex.load` or `SearchIndex.load`, by the manifest's kind."""
  if os.path.isdir(index_dir) and sharded_index_files.is_sharded(index_dir):
    return ShardedIndex.load(index_dir)
  return index_lib.SearchIndex.load(index_dir)


def build_from_embedding_shards(
    embeddings_dir: str, index_dir: str,
    vectors_per_shard: int = DEFAULT_VECTORS_PER_SHARD, kind: str = "auto",
    scann_config: Optional[index_lib.ScannConfig] = None,
    storage: str = "float32", metadata: Optional[Dict[str, Any]] = None,
    overwrite: bool = False) -> ShardedIndex:
  """Indexes an embeddings directory (`embed_pipeline`), shard by shard.

  Consecutive embedding shards (in the manifest's order) are gathered until
  they hold `vectors_per_shard` rows; each group becomes one index shard,
  built, saved and freed before the next, so memory holds one group.

  Args:
    embeddings_dir: a complete embeddings directory (with its manifest).
    index_dir: the sharded index to write (atomically).
    vectors_per_shard: rows per index shard, at least (whole embedding
      shards are kept together).
    kind, scann_config, storage: of every index shard.
    metadata: extra manifest facts; the embeddings manifest's model,
      collection and skipped counts are recorded too.
    overwrite: replace an existing `index_dir`.

  Returns:
    The `ShardedIndex`, loaded back from `index_dir`.

  Raises:
    EmbeddingShardError: an incomplete embeddings directory, or a damaged
      embedding shard (named).
    FileExistsError: `index_dir` exists and not `overwrite`.
    ValueError: no embeddings at all.
  """
  if vectors_per_shard < 1:
    raise ValueError(f"vectors_per_shard must be >= 1, got "
                     f"{vectors_per_shard}.")
  source = embedding_shards.read_manifest(embeddings_dir)
  if source["count"] < 1:
    raise ValueError(f"{embeddings_dir} holds no embeddings (skipped: "
                     f"{source.get('skipped')}).")
  metadata = {
      "model": source.get("model"),
      "model_source": source.get("model_source") or {},
      "collection": source.get("collection"),
      "collection_format": source.get("collection_format"),
      "skipped": source.get("skipped") or {},
      "embeddings_dir": embeddings_dir,
      **(metadata or {}),
  }
  counts, digests, kinds = [], [], set()
  with sharded_index_files.Staging(index_dir, overwrite) as staging:
    group_rows, group_ids = [], []

    def flush():
      embeddings = np.concatenate(group_rows).astype(np.float32)
      shard = index_lib.SearchIndex.build(
          embeddings, list(group_ids), kind=kind, scann_config=scann_config,
          storage=storage)
      digests.append(staging.add_shard(shard))
      counts.append(len(shard))
      kinds.add(shard.kind)
      logging.info("Index shard %d: %d rows (%s, %s).", len(counts) - 1,
                   len(shard), shard.kind, shard.storage)
      group_rows.clear()
      group_ids.clear()

    for entry in source["shards"]:
      if entry["count"] == 0:
        continue
      shard = embedding_shards.read_listed_shard(embeddings_dir, entry,
                                                 source["embed_dim"])
      group_rows.append(shard["embeddings"])
      group_ids.extend(shard["ids"])
      if len(group_ids) >= vectors_per_shard:
        flush()
    if group_ids:
      flush()
    staging.finish(sharded_index_files.build_manifest(
        counts, digests, source["embed_dim"], storage,
        kinds.pop() if len(kinds) == 1 else "mixed", metadata))
  return ShardedIndex.load(index_dir)
