# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Nearest-neighbour index over unit embeddings: ScaNN or exact search.

`SearchIndex` holds L2-normalised float32 embeddings `[count, embed_dim]` and
one string id per row (an image path or a record key), and answers top-k
maximum-inner-product (= cosine) queries:

  * "scann": a ScaNN searcher (k-means tree partitioning, anisotropic
    quantization scoring, exact re-ranking of the best candidates).
  * "brute_force": exact search, one matrix product per block of rows.
  * "auto": ScaNN from `ScannConfig.min_count` rows on, exact below (a tree
    over a few thousand vectors is slower than scanning them).

`save(index_dir)` writes (`index_files`)

  index_dir/manifest.json    format version, kind, count, embed_dim, the
                             model the embeddings came from, ScaNN settings,
                             and `files`: each file's name and sha256.
  index_dir/embeddings.npy   float32 [count, embed_dim].
  index_dir/ids.json         list of `count` strings.
  index_dir/scann/           the serialized ScaNN searcher (kind "scann").

into a temporary sibling directory that replaces `index_dir` once complete
(`atomic_publish.replace_dir`), so an interrupted build never leaves a
directory that loads and a failed replace keeps the old index. `load` treats
the directory as data from someone else: nothing is unpickled and it refuses
unlisted or changed files (see `SearchIndex.load`).
"""
import dataclasses
import json
import os
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from official.align import atomic_publish
from official.align.search import index_files
from official.align.search import scann_searcher

# The index's file layout and ScaNN parts, by their names here.
MANIFEST = index_files.MANIFEST
EMBEDDINGS = index_files.EMBEDDINGS
IDS = index_files.IDS
SCANN_SUBDIR = index_files.SCANN_SUBDIR
FORMAT_VERSION = index_files.FORMAT_VERSION
SearchIndexError = index_files.SearchIndexError
ScannConfig = scann_searcher.ScannConfig
build_scann_searcher = scann_searcher.build_scann_searcher
INDEX_KINDS = ("auto", "scann", "brute_force")


def l2_normalize(x: np.ndarray, name: str = "embeddings") -> np.ndarray:
  """float32 rows of unit L2 norm; raises on zero or non-finite rows."""
  x = np.asarray(x, np.float32)
  norms = np.linalg.norm(x, axis=-1, keepdims=True)
  bad = ~np.isfinite(norms[..., 0]) | (norms[..., 0] == 0)
  if np.any(bad):
    raise ValueError(f"{name}: {int(bad.sum())} row(s) are zero or not "
                     f"finite (first: row {int(np.argmax(bad))}); they have no "
                     "direction to search with.")
  if np.all(np.abs(norms - 1) < 1e-6):
    return x  # Already unit rows: no copy of a large collection.
  return x / norms


def exact_top_k(embeddings: np.ndarray, queries: np.ndarray, top_k: int,
                block_rows: int = 65_536) -> Tuple[np.ndarray, np.ndarray]:
  """Exact maximum inner product search.

  Args:
    embeddings: float32 [count, dim].
    queries: float32 [num_queries, dim].
    top_k: neighbours per query (at most `count`).
    block_rows: rows of `embeddings` scored at a time (bounds the memory of
      the score matrix to `num_queries * block_rows` floats).

  Returns:
    (indices int64 [num_queries, top_k], scores float32 [num_queries, top_k]),
    best first; equal scores are ordered by row index.
  """
  count = embeddings.shape[0]
  top_k = min(top_k, count)
  best_idx = np.zeros([queries.shape[0], 0], np.int64)
  best_scores = np.zeros([queries.shape[0], 0], np.float32)
  for start in range(0, count, block_rows):
    scores = queries @ embeddings[start:start + block_rows].T
    k = min(top_k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_idx = np.concatenate([best_idx, part + start], axis=1)
    best_scores = np.concatenate(
        [best_scores, np.take_along_axis(scores, part, axis=1)], axis=1)
    if best_idx.shape[1] > top_k:
      order = np.lexsort((best_idx, -best_scores), axis=1)[:, :top_k]
      best_idx = np.take_along_axis(best_idx, order, axis=1)
      best_scores = np.take_along_axis(best_scores, order, axis=1)
  order = np.lexsort((best_idx, -best_scores), axis=1)
  return (np.take_along_axis(best_idx, order, axis=1),
          np.take_along_axis(best_scores, order, axis=1))


class SearchIndex:
  """Top-k search over unit embeddings with string ids (see module doc)."""

  def __init__(self, embeddings: np.ndarray, ids: Sequence[str], kind: str,
               searcher=None, scann_config: Optional[ScannConfig] = None,
               metadata: Optional[Dict[str, Any]] = None):
    """Use `SearchIndex.build` or `SearchIndex.load`."""
    self._embeddings = embeddings
    self._ids = list(ids)
    self._kind = kind
    self._searcher = searcher
    self._scann_config = scann_config
    self._metadata = dict(metadata or {})

  @classmethod
  def build(cls, embeddings: np.ndarray, ids: Sequence[str],
            kind: str = "auto",
            scann_config: Optional[ScannConfig] = None,
            metadata: Optional[Dict[str, Any]] = None) -> "SearchIndex":
    """Indexes `embeddings` (normalised here) under `ids`.

    Args:
      embeddings: float [count, embed_dim], count >= 1.
      ids: `count` strings (paths or keys), returned by `search`.
      kind: "auto", "scann" or "brute_force" (see module doc).
      scann_config: ScaNN settings; default `ScannConfig()` (gin-bindable).
      metadata: JSON-serialisable facts kept in the manifest (e.g. the
        model's `hub_dir`).

    Returns:
      A `SearchIndex`.

    Raises:
      ValueError: bad shapes, zero/non-finite rows, unknown kind.
    """
    if kind not in INDEX_KINDS:
      raise ValueError(f"kind must be one of {INDEX_KINDS}, got {kind!r}.")
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
      raise ValueError("embeddings must be [count, embed_dim] with count >= 1,"
                       f" got shape {embeddings.shape}.")
    if len(ids) != embeddings.shape[0]:
      raise ValueError(f"{len(ids)} ids for {embeddings.shape[0]} embeddings.")
    embeddings = np.ascontiguousarray(l2_normalize(embeddings))
    scann_config = scann_config or ScannConfig()
    if kind == "auto":
      kind = ("scann" if embeddings.shape[0] >= scann_config.min_count
              else "brute_force")
    searcher = None
    if kind == "scann":
      scann_config = scann_config.resolved(embeddings.shape[0])
      searcher = build_scann_searcher(embeddings, scann_config)
    return cls(embeddings, [str(i) for i in ids], kind, searcher,
               scann_config if kind == "scann" else None, metadata)

  @property
  def kind(self) -> str:
    return self._kind

  @property
  def scann_config(self) -> Optional[ScannConfig]:
    """The resolved ScaNN settings (None for exact search)."""
    return self._scann_config

  @property
  def embed_dim(self) -> int:
    return int(self._embeddings.shape[1])

  @property
  def ids(self) -> List[str]:
    return self._ids

  @property
  def embeddings(self) -> np.ndarray:
    """float32 [count, embed_dim], unit rows."""
    return self._embeddings

  @property
  def metadata(self) -> Dict[str, Any]:
    return dict(self._metadata)

  def __len__(self) -> int:
    return len(self._ids)

  def search_indices(self, queries: np.ndarray, top_k: int = 10,
                     exact: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Row numbers and scores of the top-k rows for each query.

    Args:
      queries: float [num_queries, embed_dim] or [embed_dim]; normalised here.
      top_k: neighbours per query (capped at the index size).
      exact: exact search even if the index has a ScaNN searcher.

    Returns:
      (indices int64 [num_queries, k], scores float32 [num_queries, k]) with
      k = min(top_k, len(self)), best first; scores are cosine similarities.

    Raises:
      ValueError: wrong embedding size, zero or non-finite query, top_k < 1.
    """
    queries = np.asarray(queries, np.float32)
    if queries.ndim == 1:
      queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != self.embed_dim:
      model = self._metadata.get("model")
      raise ValueError(
          f"Query embeddings have size {queries.shape[-1]} but this index "
          f"holds {self.embed_dim}-d embeddings"
          + (f" (built with {model})" if model else "")
          + "; search it with the model it was built with.")
    if top_k < 1:
      raise ValueError(f"top_k must be >= 1, got {top_k}.")
    queries = l2_normalize(queries, "queries")
    top_k = min(top_k, len(self))
    if self._searcher is None or exact:
      return exact_top_k(self._embeddings, queries, top_k)
    indices, scores = self._searcher.search_batched(
        queries, final_num_neighbors=top_k,
        pre_reorder_num_neighbors=max(top_k,
                                      self._scann_config.reorder_num_neighbors))
    return np.asarray(indices, np.int64), np.asarray(scores, np.float32)

  def search(self, queries: np.ndarray, top_k: int = 10,
             exact: bool = False) -> List[List[Tuple[str, float]]]:
    """[(id, score), ...] best first, one list per query (see
    `search_indices` for the arguments)."""
    indices, scores = self.search_indices(queries, top_k, exact)
    return [[(self._ids[i], float(s)) for i, s in zip(row_i, row_s)]
            for row_i, row_s in zip(indices, scores)]

  def manifest(self) -> Dict[str, Any]:
    """What `save` writes to manifest.json."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": self._kind,
        "count": len(self),
        "embed_dim": self.embed_dim,
        "scann_config": (dataclasses.asdict(self._scann_config)
                         if self._scann_config else None),
        **self._metadata,
    }

  def save(self, index_dir: str, overwrite: bool = False) -> None:
    """Writes the index atomically (`atomic_publish.replace_dir`).

    The files go to a temporary sibling directory; the manifest, written
    last, lists each file with its sha256; the directory then replaces
    `index_dir` (an old index is deleted only once the new one is in place,
    and stays if the replace fails).

    Args:
      index_dir: local directory to create.
      overwrite: replace an existing `index_dir`.

    Raises:
      FileExistsError: `index_dir` exists and not `overwrite`.
    """
    index_dir = os.path.abspath(index_dir)
    if os.path.exists(index_dir) and not overwrite:
      raise FileExistsError(f"{index_dir} already exists (pass overwrite).")
    os.makedirs(os.path.dirname(index_dir), exist_ok=True)
    tmp_dir = atomic_publish.staging_path(index_dir)
    os.makedirs(tmp_dir)
    try:
      np.save(os.path.join(tmp_dir, EMBEDDINGS), self._embeddings)
      with open(os.path.join(tmp_dir, IDS), "w", encoding="utf-8") as f:
        json.dump(self._ids, f, ensure_ascii=False)
      if self._searcher is not None:
        scann_dir = os.path.join(tmp_dir, SCANN_SUBDIR)
        os.makedirs(scann_dir)
        # Relative asset paths: the directory is renamed below.
        self._searcher.serialize(scann_dir, relative_path=True)
      manifest = dict(self.manifest(), files={
          name: index_files.sha256(os.path.join(tmp_dir, name))
          for name in index_files.files_under(tmp_dir)})
      # Written last: a directory without it is never loaded.
      with open(os.path.join(tmp_dir, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    except BaseException:
      shutil.rmtree(tmp_dir, ignore_errors=True)
      raise
    atomic_publish.replace_dir(tmp_dir, index_dir)

  @classmethod
  def load(cls, index_dir: str) -> "SearchIndex":
    """Loads an index written by `save`; an index dir is data, not code.

    Nothing is unpickled. Refused with a one-line `SearchIndexError`: a file
    the manifest does not list (e.g. ScaNN's `scann_docids.pkl`, which
    ScaNN's own loader would unpickle), a listed file missing or whose
    sha256 differs, a symbolic link, a manifest of the wrong shape or types,
    embeddings that are not finite float32 unit rows of the manifest's
    shape, ids that are not `count` strings, a ScaNN index without its
    `scann_config` or whose ScaNN files are not the ones `build` makes for
    it (asset paths outside the directory, another ScaNN config).

    Raises:
      FileNotFoundError: `index_dir` does not exist.
      SearchIndexError: see above.
    """
    if not os.path.isdir(index_dir):
      raise FileNotFoundError(f"No search index directory at {index_dir}.")
    manifest = index_files.read_manifest(index_dir)
    index_files.check_files(index_dir, manifest["files"])
    try:
      embeddings = np.load(os.path.join(index_dir, EMBEDDINGS),
                           mmap_mode="r", allow_pickle=False)
      with open(os.path.join(index_dir, IDS), encoding="utf-8") as f:
        ids = json.load(f)
    except (OSError, ValueError) as e:
      raise SearchIndexError(
          f"Cannot read the search index in {index_dir}: {e}") from e
    count, embed_dim = manifest["count"], manifest["embed_dim"]
    if (embeddings.ndim != 2 or tuple(embeddings.shape) != (count, embed_dim)
        or not isinstance(ids, list) or len(ids) != count):
      raise SearchIndexError(
          f"{index_dir}: manifest says {count} embeddings of size "
          f"{embed_dim}, found {EMBEDDINGS} of shape {embeddings.shape} "
          f"and {len(ids) if isinstance(ids, list) else type(ids).__name__}"
          " ids.")
    index_files.check_embeddings(index_dir, embeddings)
    if not all(isinstance(i, str) for i in ids):
      first = next(i for i in ids if not isinstance(i, str))
      raise SearchIndexError(f"{index_dir}/{IDS}: ids must be strings, "
                             f"found {type(first).__name__} {first!r}.")
    searcher, scann_config = None, None
    if manifest["kind"] == "scann":
      scann_config = scann_searcher.scann_config_from_manifest(index_dir, manifest)
      searcher = scann_searcher.load_scann_searcher(
          os.path.join(index_dir, SCANN_SUBDIR), embeddings, scann_config)
    metadata = {k: v for k, v in manifest.items()
                if k not in ("format_version", "kind", "count", "embed_dim",
                             "scann_config", "files")}
    return cls(np.asarray(embeddings), ids, manifest["kind"], searcher,
               scann_config, metadata)
