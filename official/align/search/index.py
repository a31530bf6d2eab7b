# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Nearest-neighbour index over unit embeddings: ScaNN or exact search.

`SearchIndex` holds L2-normalised float32 embeddings `[count, embed_dim]` and
one string id per row (an image path or a record key), and answers top-k
maximum-inner-product (= cosine) queries:

  * "scann": a ScaNN searcher (k-means tree partitioning, anisotropic
    quantization scoring, exact re-ranking of the best candidates).
  * "brute_force": exact search by blocks of rows (`exact_search`).
  * "auto": ScaNN from `ScannConfig.min_count` rows on, exact below (a tree
    over a few thousand vectors is slower than scanning them).

Storage (`STORAGES`) says how the vectors are kept:

  * "float32": the unit embeddings as they are (4 bytes per dimension); a
    ScaNN searcher re-ranks its candidates in float32.
  * "int8": each row as int8 codes times one float32 scale that makes the
    row unit again (`vectors`; 1 byte per dimension + 4 per row);
    exact search scores the codes, and a ScaNN searcher re-ranks in int8
    (ScaNN's own fixed-point copy). Scores are cosines with the quantised
    directions (recall against float32 search: benchmarks/sharded_index.py).

`save(index_dir)` writes (`index_files`)

  index_dir/manifest.json    format version, kind, storage, count,
                             embed_dim, the model the embeddings came from,
                             ScaNN settings, and `files`: each file's name
                             and sha256.
  index_dir/embeddings.npy   float32 (storage "float32") or int8 ("int8")
                             [count, embed_dim].
  index_dir/scales.npy       float32 [count] row scales (storage "int8").
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
from official.align.search import exact_search
from official.align.search import index_files
from official.align.search import scann_searcher
from official.align.search import vectors

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
SCALES = index_files.SCALES
STORAGES = index_files.STORAGES


class SearchIndex:
  """Top-k search over unit embeddings with string ids (see module doc)."""

  def __init__(self, embeddings: np.ndarray, ids: Sequence[str], kind: str,
               searcher=None, scann_config: Optional[ScannConfig] = None,
               metadata: Optional[Dict[str, Any]] = None,
               scales: Optional[np.ndarray] = None):
    """Use `SearchIndex.build` or `SearchIndex.load`.

    `embeddings` are the stored rows: float32, or int8 codes with `scales`.
    """
    self._embeddings = embeddings
    self._scales = scales
    self._ids = list(ids)
    self._kind = kind
    self._searcher = searcher
    self._scann_config = scann_config
    self._metadata = dict(metadata or {})

  @classmethod
  def build(cls, embeddings: np.ndarray, ids: Sequence[str],
            kind: str = "auto",
            scann_config: Optional[ScannConfig] = None,
            metadata: Optional[Dict[str, Any]] = None,
            storage: str = "float32") -> "SearchIndex":
    """Indexes `embeddings` (normalised here) under `ids`.

    Args:
      embeddings: float [count, embed_dim], count >= 1.
      ids: `count` strings (paths or keys), returned by `search`.
      kind: "auto", "scann" or "brute_force" (see module doc).
      scann_config: ScaNN settings; default `ScannConfig()` (gin-bindable).
      metadata: JSON-serialisable facts kept in the manifest (e.g. the
        model's `hub_dir`).
      storage: "float32" or "int8" (see module doc).

    Returns:
      A `SearchIndex`.

    Raises:
      ValueError: bad shapes, zero/non-finite rows, unknown kind or storage.
    """
    if kind not in INDEX_KINDS:
      raise ValueError(f"kind must be one of {INDEX_KINDS}, got {kind!r}.")
    if storage not in STORAGES:
      raise ValueError(f"storage must be one of {STORAGES}, got "
                       f"{storage!r}.")
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
      raise ValueError("embeddings must be [count, embed_dim] with count >= 1,"
                       f" got shape {embeddings.shape}.")
    if len(ids) != embeddings.shape[0]:
      raise ValueError(f"{len(ids)} ids for {embeddings.shape[0]} embeddings.")
    embeddings = np.ascontiguousarray(vectors.l2_normalize(embeddings))
    scann_config = scann_config or ScannConfig()
    if kind == "auto":
      kind = ("scann" if embeddings.shape[0] >= scann_config.min_count
              else "brute_force")
    searcher = None
    if kind == "scann":
      scann_config = scann_config.resolved(embeddings.shape[0])
      searcher = build_scann_searcher(embeddings, scann_config,
                                      storage=storage)
    scales = None
    if storage == "int8":
      embeddings, scales = vectors.quantize_int8(embeddings)
    return cls(embeddings, [str(i) for i in ids], kind, searcher,
               scann_config if kind == "scann" else None, metadata, scales)

  @property
  def kind(self) -> str:
    return self._kind

  @property
  def storage(self) -> str:
    """"float32" or "int8" (see module doc)."""
    return "float32" if self._scales is None else "int8"

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
  def embeddings(self):
    """float32 [count, embed_dim] unit rows: the array itself for storage
    "float32", a `vectors.RowView` dequantising on access for "int8"."""
    if self._scales is None:
      return self._embeddings
    return vectors.RowView(
        lambda rows: vectors.dequantize(self._embeddings[rows],
                                        self._scales[rows]),
        len(self), self.embed_dim)

  @property
  def stored_bytes_per_vector(self) -> float:
    """Bytes of the stored rows (and scales) per vector, ScaNN's own
    structures excluded."""
    stored = self._embeddings.dtype.itemsize * self.embed_dim
    return float(stored + (0 if self._scales is None else 4))

  @property
  def metadata(self) -> Dict[str, Any]:
    return dict(self._metadata)

  def __len__(self) -> int:
    return len(self._ids)

  def check_queries(self, queries: np.ndarray, top_k: int) -> np.ndarray:
    """float32 [num_queries, embed_dim] unit queries from `queries`.

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
    return vectors.l2_normalize(queries, "queries")

  def search_indices(self, queries: np.ndarray, top_k: int = 10,
                     exact: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Row numbers and scores of the top-k rows for each query.

    Args:
      queries: float [num_queries, embed_dim] or [embed_dim]; normalised here.
      top_k: neighbours per query (capped at the index size).
      exact: exact search even if the index has a ScaNN searcher.

    Returns:
      (indices int64 [num_queries, k], scores float32 [num_queries, k]) with
      k = min(top_k, len(self)), best first; scores are cosine similarities
      (with the stored, possibly quantised, rows).

    Raises:
      ValueError: wrong embedding size, zero or non-finite query, top_k < 1.
    """
    queries = self.check_queries(queries, top_k)
    top_k = min(top_k, len(self))
    if self._searcher is None or exact:
      return exact_search.exact_top_k(self._embeddings, queries, top_k,
                                      scales=self._scales)
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
        "storage": self.storage,
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
      if self._scales is not None:
        np.save(os.path.join(tmp_dir, SCALES), self._scales)
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
    embeddings that are not finite unit rows of the manifest's shape and
    storage, ids that are not `count` strings, a ScaNN index without its
    `scann_config` or whose ScaNN files are not the ones `build` makes for
    it (asset paths outside the directory, another ScaNN config).

    Raises:
      FileNotFoundError: `index_dir` does not exist.
      SearchIndexError: see above.
    """
    if not os.path.isdir(index_dir):
      raise FileNotFoundError(f"No search index directory at {index_dir}.")
    manifest = index_files.read_manifest(index_dir)
    index_files.check_files(index_dir, manifest["files"], manifest["storage"])
    storage = manifest["storage"]
    try:
      embeddings = np.load(os.path.join(index_dir, EMBEDDINGS),
                           mmap_mode="r", allow_pickle=False)
      scales = None
      if storage == "int8":
        scales = np.load(os.path.join(index_dir, SCALES), allow_pickle=False)
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
    index_files.check_embeddings(index_dir, embeddings, scales)
    if not all(isinstance(i, str) for i in ids):
      first = next(i for i in ids if not isinstance(i, str))
      raise SearchIndexError(f"{index_dir}/{IDS}: ids must be strings, "
                             f"found {type(first).__name__} {first!r}.")
    searcher, scann_config = None, None
    if manifest["kind"] == "scann":
      scann_config = scann_searcher.scann_config_from_manifest(index_dir,
                                                               manifest)
      searcher = scann_searcher.load_scann_searcher(
          os.path.join(index_dir, SCANN_SUBDIR), embeddings, scann_config,
          storage=storage)
    metadata = {k: v for k, v in manifest.items()
                if k not in ("format_version", "kind", "storage", "count",
                             "embed_dim", "scann_config", "files")}
    return cls(np.asarray(embeddings), ids, manifest["kind"], searcher,
               scann_config, metadata, scales)
