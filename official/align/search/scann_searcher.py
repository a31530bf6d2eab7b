# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""ScaNN searchers of `index.SearchIndex`: settings, building, safe loading.

ScaNN comes with the `search` extra (`extras.require`); exact search needs
none of this.
"""
import dataclasses
import os
from typing import Any, Dict, Optional

import gin
import numpy as np

from official.align import extras
from official.align.search import index_files


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


def build_scann_searcher(embeddings: np.ndarray, config: ScannConfig,
                         top_k: int = 10, storage: str = "float32"):
  """A ScaNN dot-product searcher over unit `embeddings` (tree + AH + reorder).

  Args:
    embeddings: float32 [count, dim], unit rows.
    config: a `ScannConfig` (resolved for `count` here).
    top_k: default number of neighbours (overridable per search).
    storage: "float32" re-ranks with float32 rows, "int8" with ScaNN's
      fixed-point int8 rows.

  Returns:
    `scann.scann_ops_pybind.ScannSearcher`.
  """
  return _scann_builder(embeddings, config, top_k, storage).build()


def _scann_builder(embeddings: np.ndarray, config: ScannConfig,
                   top_k: int = 10, storage: str = "float32"):
  """The ScaNN builder of `build_scann_searcher` (nothing built yet).

  Only the shape of `embeddings` is read until `build()`.
  """
  scann = extras.require("scann", "search",
                         "A ScaNN index (--index_kind=brute_force needs none)")
  from scann.scann_ops.py import scann_builder  # pylint: disable=g-import-not-at-top
  reorder_type = {"float32": scann_builder.ReorderType.FLOAT32,
                  "int8": scann_builder.ReorderType.INT8}[storage]
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
  return builder.reorder(config.reorder_num_neighbors, quantize=reorder_type)


def scann_config_from_manifest(index_dir: str,
                                manifest: Dict[str, Any]) -> ScannConfig:
  config = manifest.get("scann_config")
  fields = {f.name: f.type for f in dataclasses.fields(ScannConfig)}
  if not isinstance(config, dict) or set(config) != set(fields):
    raise index_files.SearchIndexError(
        f"{index_dir}/{index_files.MANIFEST}: a ScaNN index needs scann_config with "
        f"{sorted(fields)}, found {config!r}.")
  for name, value in config.items():
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number or (value is None and "Optional" in str(fields[name]))):
      raise index_files.SearchIndexError(f"{index_dir}/{index_files.MANIFEST}: scann_config.{name} "
                             f"must be a number, found {value!r}.")
  return ScannConfig(**config)


def load_scann_searcher(scann_dir: str, embeddings: np.ndarray,
                         config: ScannConfig, storage: str = "float32"):
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
    raise index_files.SearchIndexError(f"Cannot read the ScaNN searcher in {scann_dir}: "
                           f"{type(e).__name__}: {e}") from e
  names = {"scann_assets.pbtxt", "scann_config.pb"}
  for asset in assets.assets:
    name = asset.asset_path
    if (os.path.basename(name) != name or name in ("", ".", "..")
        or not os.path.isfile(os.path.join(scann_dir, name))):
      raise index_files.SearchIndexError(
          f"{assets_path}: asset {name!r} is not a file of {scann_dir}.")
    names.add(name)
  extra = sorted(set(os.listdir(scann_dir)) - names)
  if extra:
    raise index_files.SearchIndexError(
        f"{scann_dir}/{extra[0]} is not one of the ScaNN searcher's assets; "
        "refusing to load it (ScaNN's own loader would unpickle "
        "scann_docids.pkl).")
  expected = text_format.Parse(
      _scann_builder(embeddings, config, storage=storage).create_config(),
      scann_pb2.ScannConfig())
  if (text_format.MessageToString(stored) !=
      text_format.MessageToString(expected)):
    raise index_files.SearchIndexError(
        f"{config_path} is not the ScaNN config this index's scann_config "
        "makes; refusing to load it.")
  try:
    return scann.scann_ops_pybind.ScannSearcher(
        scann.scann_ops_pybind.scann_pybind.ScannNumpy(scann_dir, assets_text),
        None)
  except (RuntimeError, ValueError, OSError) as e:
    raise index_files.SearchIndexError(
        f"Cannot load the ScaNN searcher in {scann_dir}: {e}") from e
