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

`save(index_dir)` writes

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
import hashlib
import json
import os
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gin
import numpy as np

from official.align import atomic_publish
from official.align import extras

MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
IDS = "ids.json"
SCANN_SUBDIR = "scann"
FORMAT_VERSION = 2  # 2: manifest lists each file with its sha256.
INDEX_KINDS = ("auto", "scann", "brute_force")


class SearchIndexError(ValueError):
  """An index directory that is missing, incomplete or inconsistent."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ScannConfig:
  """ScaNN tree + asymmetric hashing settings (see `benchmarks/search_index.py`).

  Attributes:
    min_count: "auto" builds ScaNN from this many rows on, exact search below.
    num_leaves: k-means partitions; None: about sqrt(count).
    leaves_to_search: partitions scanned per query; None: about 3% of
      `num_leaves` (at least 1).
    dims_per_block: asymmetric hashing block size (2: 16 centres per 2 dims).
    anisotropic_quantization_threshold: ScaNN's score-aware quantization
      threshold (0.2 suits unit vectors); NaN for plain k-means quantization.
    reorder_num_neighbors: candidates re-scored exactly before the top-k.
    training_sample_size: rows sampled to train the tree and the codebooks.
    training_threads: threads for building (0: all cores).
  """
  min_count: int = 20_000
  num_leaves: Optional[int] = None
  leaves_to_search: Optional[int] = None
  dims_per_block: int = 2
  anisotropic_quantization_threshold: float = 0.2
  reorder_num_neighbors: int = 200
  training_sample_size: int = 100_000
  training_threads: int = 0

  def resolved(self, count: int) -> "ScannConfig":
    """This config with `num_leaves`/`leaves_to_search` filled in for `count`."""
    num_leaves = self.num_leaves or max(1, int(round(np.sqrt(count))))
    num_leaves = min(num_leaves, count)
    leaves_to_search = self.leaves_to_search or max(
        1, int(round(0.03 * num_leaves)))
    return dataclasses.replace(
        self, num_leaves=num_leaves,
        leaves_to_search=min(leaves_to_search, num_leaves))


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


def build_scann_searcher(embeddings: np.ndarray, config: ScannConfig,
                         top_k: int = 10):
  """A ScaNN dot-product searcher over unit `embeddings` (tree + AH + reorder).

  Args:
    embeddings: float32 [count, dim], unit rows.
    config: a `ScannConfig` (resolved for `count` here).
    top_k: default number of neighbours (overridable per search).

  Returns:
    `scann.scann_ops_pybind.ScannSearcher`.
  """
  return _scann_builder(embeddings, config, top_k).build()


def _scann_builder(embeddings: np.ndarray, config: ScannConfig,
                   top_k: int = 10):
  """The ScaNN builder of `build_scann_searcher` (nothing built yet)."""
  scann = extras.require("scann", "search",
                         "A ScaNN index (--index_kind=brute_force needs none)")
  count = embeddings.shape[0]
  config = config.resolved(count)
  builder = scann.scann_ops_pybind.builder(embeddings, top_k, "dot_product")
  builder.set_n_training_threads(config.training_threads)
  if config.num_leaves > 1:
    builder = builder.tree(
        num_leaves=config.num_leaves,
        num_leaves_to_search=config.leaves_to_search,
        training_sample_size=min(count, config.training_sample_size))
  builder = builder.score_ah(
      config.dims_per_block,
      anisotropic_quantization_threshold=(
          config.anisotropic_quantization_threshold),
      training_sample_size=min(count, config.training_sample_size))
  return builder.reorder(config.reorder_num_neighbors)


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
          name: _sha256(os.path.join(tmp_dir, name))
          for name in _files_under(tmp_dir)})
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
    manifest = _read_manifest(index_dir)
    _check_files(index_dir, manifest["files"])
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
    _check_embeddings(index_dir, embeddings)
    if not all(isinstance(i, str) for i in ids):
      first = next(i for i in ids if not isinstance(i, str))
      raise SearchIndexError(f"{index_dir}/{IDS}: ids must be strings, "
                             f"found {type(first).__name__} {first!r}.")
    searcher, scann_config = None, None
    if manifest["kind"] == "scann":
      scann_config = _scann_config_from_manifest(index_dir, manifest)
      searcher = _load_scann_searcher(
          os.path.join(index_dir, SCANN_SUBDIR), embeddings, scann_config)
    metadata = {k: v for k, v in manifest.items()
                if k not in ("format_version", "kind", "count", "embed_dim",
                             "scann_config", "files")}
    return cls(np.asarray(embeddings), ids, manifest["kind"], searcher,
               scann_config, metadata)


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _files_under(index_dir: str) -> List[str]:
  """Relative '/'-joined paths of the files under `index_dir` but the
  manifest; raises `SearchIndexError` on a symbolic link."""
  names = []
  for root, dirs, files in os.walk(index_dir):
    for name in dirs + files:
      path = os.path.join(root, name)
      if os.path.islink(path):
        raise SearchIndexError(
            f"{path} is a symbolic link; an index holds only its own files.")
    for name in files:
      relative = os.path.relpath(os.path.join(root, name), index_dir)
      names.append(relative.replace(os.sep, "/"))
  return sorted(n for n in names if n != MANIFEST)


def _read_manifest(index_dir: str) -> Dict[str, Any]:
  """manifest.json, its types checked (see `SearchIndex.load`)."""
  path = os.path.join(index_dir, MANIFEST)
  if not os.path.isfile(path):
    raise SearchIndexError(
        f"{index_dir} is not a complete search index (no {MANIFEST}; "
        "build it with `python -m official.align.search build`).")
  try:
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
  except (OSError, ValueError) as e:
    raise SearchIndexError(f"Cannot read the search index in {index_dir}: "
                           f"{path}: {e}") from e
  if not isinstance(manifest, dict):
    raise SearchIndexError(f"{path} must hold a JSON object, found "
                           f"{type(manifest).__name__}.")
  if manifest.get("format_version") != FORMAT_VERSION:
    raise SearchIndexError(
        f"{path}: format_version {manifest.get('format_version')!r}, "
        f"expected {FORMAT_VERSION}; rebuild the index with this version.")
  for key, kinds in (("count", int), ("embed_dim", int), ("kind", str),
                     ("files", dict)):
    value = manifest.get(key)
    if not isinstance(value, kinds) or isinstance(value, bool):
      raise SearchIndexError(f"{path}: {key} must be a {kinds.__name__}, "
                             f"found {value!r}.")
  if manifest["count"] < 1 or manifest["embed_dim"] < 1:
    raise SearchIndexError(f"{path}: count and embed_dim must be >= 1, found "
                           f"{manifest['count']} and {manifest['embed_dim']}.")
  if manifest["kind"] not in ("scann", "brute_force"):
    raise SearchIndexError(f"{path}: unknown kind {manifest['kind']!r}.")
  if not all(isinstance(k, str) and isinstance(v, str)
             for k, v in manifest["files"].items()):
    raise SearchIndexError(f"{path}: files must map file names to sha256 "
                           "strings.")
  return manifest


def _check_files(index_dir: str, listed: Dict[str, str]) -> None:
  """The files on disk are exactly `listed`, each with its sha256."""
  on_disk = _files_under(index_dir)
  unlisted = [n for n in on_disk if n not in listed]
  if unlisted:
    raise SearchIndexError(
        f"{index_dir} holds {len(unlisted)} file(s) its {MANIFEST} does not "
        f"list, e.g. {unlisted[0]}; refusing to load it (an index holds "
        "only the files it was saved with).")
  for name in (EMBEDDINGS, IDS, *listed):
    if name not in on_disk:
      raise SearchIndexError(f"{index_dir} is incomplete: {name} is missing.")
  for name in on_disk:
    if _sha256(os.path.join(index_dir, name)) != listed[name]:
      raise SearchIndexError(
          f"{index_dir}/{name}: sha256 differs from the one in its "
          f"{MANIFEST}; the file was changed after the index was saved.")


def _check_embeddings(index_dir: str, embeddings: np.ndarray) -> None:
  """float32, finite, unit rows (what `build` stores)."""
  where = f"{index_dir}/{EMBEDDINGS}"
  if embeddings.dtype != np.float32:
    raise SearchIndexError(f"{where}: embeddings must be float32, found "
                           f"{embeddings.dtype}.")
  norms = np.linalg.norm(embeddings, axis=1)
  bad = ~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)
  if np.any(bad):
    row = int(np.argmax(bad))
    raise SearchIndexError(
        f"{where}: {int(bad.sum())} row(s) are not finite unit vectors "
        f"(first: row {row}, norm {norms[row]}).")


def _scann_config_from_manifest(index_dir: str,
                                manifest: Dict[str, Any]) -> ScannConfig:
  config = manifest.get("scann_config")
  fields = {f.name: f.type for f in dataclasses.fields(ScannConfig)}
  if not isinstance(config, dict) or set(config) != set(fields):
    raise SearchIndexError(
        f"{index_dir}/{MANIFEST}: a ScaNN index needs scann_config with "
        f"{sorted(fields)}, found {config!r}.")
  for name, value in config.items():
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number or (value is None and "Optional" in str(fields[name]))):
      raise SearchIndexError(f"{index_dir}/{MANIFEST}: scann_config.{name} "
                             f"must be a number, found {value!r}.")
  return ScannConfig(**config)


def _load_scann_searcher(scann_dir: str, embeddings: np.ndarray,
                         config: ScannConfig):
  """The ScaNN searcher in `scann_dir`, without ScaNN's `load_searcher`.

  `load_searcher` unpickles `scann_docids.pkl` if present; this builds the
  searcher from the asset list directly, after checking that every asset is
  a plain file of `scann_dir` and that the stored ScaNN config is the one
  `build_scann_searcher` makes for `config` (a handcrafted config could name
  other files: ScaNN's config has many file-name fields).
  """
  scann = extras.require("scann", "search",
                         f"Loading the ScaNN index in {scann_dir}")
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from scann.scann_ops import scann_assets_pb2  # pylint: disable=g-import-not-at-top
  from scann.proto import scann_pb2  # pylint: disable=g-import-not-at-top
  assets_path = os.path.join(scann_dir, "scann_assets.pbtxt")
  config_path = os.path.join(scann_dir, "scann_config.pb")
  try:
    with open(assets_path, encoding="utf-8") as f:
      assets_text = f.read()
    assets = text_format.Parse(assets_text, scann_assets_pb2.ScannAssets())
    stored = scann_pb2.ScannConfig()
    with open(config_path, "rb") as f:
      stored.ParseFromString(f.read())
  except (OSError, text_format.ParseError, ValueError) as e:
    raise SearchIndexError(f"Cannot read the ScaNN searcher in {scann_dir}: "
                           f"{type(e).__name__}: {e}") from e
  names = {"scann_assets.pbtxt", "scann_config.pb"}
  for asset in assets.assets:
    name = asset.asset_path
    if (os.path.basename(name) != name or name in ("", ".", "..")
        or not os.path.isfile(os.path.join(scann_dir, name))):
      raise SearchIndexError(
          f"{assets_path}: asset {name!r} is not a file of {scann_dir}.")
    names.add(name)
  extra = sorted(set(os.listdir(scann_dir)) - names)
  if extra:
    raise SearchIndexError(
        f"{scann_dir}/{extra[0]} is not one of the ScaNN searcher's assets; "
        "refusing to load it (ScaNN's own loader would unpickle "
        "scann_docids.pkl).")
  expected = text_format.Parse(
      _scann_builder(embeddings, config).create_config(),
      scann_pb2.ScannConfig())
  if (text_format.MessageToString(stored) !=
      text_format.MessageToString(expected)):
    raise SearchIndexError(
        f"{config_path} is not the ScaNN config this index's scann_config "
        "makes; refusing to load it.")
  try:
    return scann.scann_ops_pybind.ScannSearcher(
        scann.scann_ops_pybind.scann_pybind.ScannNumpy(scann_dir, assets_text),
        None)
  except (RuntimeError, ValueError, OSError) as e:
    raise SearchIndexError(
        f"Cannot load the ScaNN searcher in {scann_dir}: {e}") from e
