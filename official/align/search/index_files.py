# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""An index directory's files, read as data from someone else.

The layout of `index.SearchIndex.save` and the checks of `SearchIndex.load`:
the manifest's types, exactly the listed files (no symbolic links), each
with its sha256, and unit embeddings (float32, or int8 codes with float32
row scales).
"""
import hashlib
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
IDS = "ids.json"
SCALES = "scales.npy"
STORAGES = ("float32", "int8")
SCANN_SUBDIR = "scann"
FORMAT_VERSION = 2  # 2: manifest lists each file with its sha256.


class SearchIndexError(ValueError):
  """An index directory that is missing, incomplete or inconsistent."""


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def files_under(index_dir: str) -> List[str]:
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


def read_manifest_json(index_dir: str) -> Dict[str, Any]:
  """manifest.json as a JSON object (of a sharded index too), unchecked."""
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
  return manifest


def read_manifest(index_dir: str) -> Dict[str, Any]:
  """manifest.json, its types checked (see `SearchIndex.load`)."""
  path = os.path.join(index_dir, MANIFEST)
  manifest = read_manifest_json(index_dir)
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
  # Indexes saved before storage options hold float32 rows.
  manifest.setdefault("storage", "float32")
  if manifest["storage"] not in STORAGES:
    raise SearchIndexError(f"{path}: storage must be one of {STORAGES}, "
                           f"found {manifest['storage']!r}.")
  if not all(isinstance(k, str) and isinstance(v, str)
             for k, v in manifest["files"].items()):
    raise SearchIndexError(f"{path}: files must map file names to sha256 "
                           "strings.")
  return manifest


def check_files(index_dir: str, listed: Dict[str, str],
                storage: str = "float32") -> None:
  """The files on disk are exactly `listed`, each with its sha256."""
  on_disk = files_under(index_dir)
  unlisted = [n for n in on_disk if n not in listed]
  if unlisted:
    raise SearchIndexError(
        f"{index_dir} holds {len(unlisted)} file(s) its {MANIFEST} does not "
        f"list, e.g. {unlisted[0]}; refusing to load it (an index holds "
        "only the files it was saved with).")
  required = (EMBEDDINGS, IDS) + ((SCALES,) if storage == "int8" else ())
  for name in (*required, *listed):
    if name not in on_disk:
      raise SearchIndexError(f"{index_dir} is incomplete: {name} is missing.")
  for name in on_disk:
    if sha256(os.path.join(index_dir, name)) != listed[name]:
      raise SearchIndexError(
          f"{index_dir}/{name}: sha256 differs from the one in its "
          f"{MANIFEST}; the file was changed after the index was saved.")


def check_embeddings(index_dir: str, embeddings: np.ndarray,
                     scales: Optional[np.ndarray] = None,
                     block_rows: int = 65_536) -> None:
  """Finite unit rows: float32, or int8 codes times float32 `scales`."""
  where = f"{index_dir}/{EMBEDDINGS}"
  expected = np.float32 if scales is None else np.int8
  if embeddings.dtype != expected:
    raise SearchIndexError(f"{where}: embeddings must be "
                           f"{np.dtype(expected).name}, found "
                           f"{embeddings.dtype}.")
  if scales is not None and (scales.dtype != np.float32
                             or scales.shape != embeddings.shape[:1]):
    raise SearchIndexError(
        f"{index_dir}/{SCALES}: must be float32 [{embeddings.shape[0]}], "
        f"found {scales.dtype} {scales.shape}.")
  norms = np.empty(embeddings.shape[0], np.float32)
  for start in range(0, embeddings.shape[0], block_rows):
    block = np.asarray(embeddings[start:start + block_rows], np.float32)
    norms[start:start + block_rows] = np.linalg.norm(block, axis=1)
  if scales is not None:
    norms *= scales
  bad = ~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)
  if np.any(bad):
    row = int(np.argmax(bad))
    raise SearchIndexError(
        f"{where}: {int(bad.sum())} row(s) are not finite unit vectors "
        f"(first: row {row}, norm {norms[row]}).")
