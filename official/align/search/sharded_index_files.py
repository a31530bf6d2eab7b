# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""A sharded index directory's files, written atomically, read as data.

The layout of `sharded_index.ShardedIndex.save` and the checks of
`ShardedIndex.load` (each shard is an `index.SearchIndex` directory, with
its own files and checks: `index_files`):

  index_dir/manifest.json     format version, kind "sharded", count,
                              embed_dim, storage, each shard's name, count
                              and the sha256 of its manifest.json, and the
                              metadata (model, collection, ...).
  index_dir/shard-00000/ ...  one `SearchIndex` directory per shard (its own
                              manifest lists its files with their sha256).

`Staging` writes into a temporary sibling directory that replaces
`index_dir` once complete (`atomic_publish.replace_dir`), the manifest
last. Reading treats the directory as data from someone else:
`read_manifest` accepts exactly the listed shard directories (no other
file, no symbolic link) and `check_shard_manifest` each shard's manifest
with the listed sha256.
"""
import json
import os
import re
import shutil
from typing import Any, Dict, Sequence

from official.align import atomic_publish
from official.align.search import index as index_lib
from official.align.search import index_files

KIND = "sharded"
SHARD_NAME_RE = re.compile(r"shard-\d{5}")
# The manifest's own keys; the rest is the index's metadata.
OWN_KEYS = ("format_version", "kind", "count", "embed_dim", "storage",
            "shard_kind", "shards")


def shard_name(number: int) -> str:
  """The directory name of shard `number` ("shard-00042")."""
  return f"shard-{number:05d}"


def build_manifest(counts: Sequence[int], digests: Sequence[str],
                   embed_dim: int, storage: str, shard_kind: str,
                   metadata: Dict[str, Any]) -> Dict[str, Any]:
  """manifest.json of shards with these row counts and manifest sha256s."""
  return {
      **metadata,
      "format_version": index_files.FORMAT_VERSION,
      "kind": KIND,
      "count": int(sum(counts)),
      "embed_dim": int(embed_dim),
      "storage": storage,
      "shard_kind": shard_kind,
      "shards": [{"name": shard_name(n), "count": int(c),
                  "manifest_sha256": d}
                 for n, (c, d) in enumerate(zip(counts, digests))],
  }


class Staging:
  """A temporary sibling of `index_dir` that shards are saved into; on
  `finish`, the manifest is written last and the directory replaces
  `index_dir`. Deleted if anything fails."""

  def __init__(self, index_dir: str, overwrite: bool):
    self.index_dir = os.path.abspath(index_dir)
    if os.path.exists(self.index_dir) and not overwrite:
      raise FileExistsError(f"{self.index_dir} already exists (pass "
                            "overwrite).")
    self.path = atomic_publish.staging_path(self.index_dir)
    self.count = 0

  def __enter__(self) -> "Staging":
    os.makedirs(os.path.dirname(self.index_dir), exist_ok=True)
    os.makedirs(self.path)
    return self

  def add_shard(self, shard: index_lib.SearchIndex) -> str:
    """Saves the next shard; returns the sha256 of its manifest."""
    shard_dir = os.path.join(self.path, shard_name(self.count))
    shard.save(shard_dir)
    self.count += 1
    return index_files.sha256(os.path.join(shard_dir, index_files.MANIFEST))

  def finish(self, manifest: Dict[str, Any]) -> None:
    with open(os.path.join(self.path, index_files.MANIFEST), "w",
              encoding="utf-8") as f:
      json.dump(manifest, f, indent=2, sort_keys=True)
    atomic_publish.replace_dir(self.path, self.index_dir)

  def __exit__(self, exc_type, exc, tb):
    if exc_type is not None:
      shutil.rmtree(self.path, ignore_errors=True)
    return False


def read_manifest(index_dir: str) -> Dict[str, Any]:
  """The top manifest, its types and the directory's entries checked."""
  path = os.path.join(index_dir, index_files.MANIFEST)
  manifest = index_files.read_manifest_json(index_dir)
  if manifest.get("format_version") != index_files.FORMAT_VERSION:
    raise index_files.SearchIndexError(
        f"{path}: format_version {manifest.get('format_version')!r}, "
        f"expected {index_files.FORMAT_VERSION}.")
  shards = manifest.get("shards")
  if (not isinstance(shards, list) or not shards or not all(
      isinstance(s, dict) and isinstance(s.get("name"), str)
      and SHARD_NAME_RE.fullmatch(s["name"])
      and isinstance(s.get("count"), int)
      and isinstance(s.get("manifest_sha256"), str) for s in shards)):
    raise index_files.SearchIndexError(
        f"{path}: shards must list each shard's name (shard-NNNNN), count "
        "and manifest_sha256.")
  for key in ("count", "embed_dim"):
    if not isinstance(manifest.get(key), int):
      raise index_files.SearchIndexError(f"{path}: {key} must be an int.")
  names = [s["name"] for s in shards]
  if len(set(names)) != len(names):
    raise index_files.SearchIndexError(f"{path}: a shard is listed twice.")
  if sum(s["count"] for s in shards) != manifest["count"]:
    raise index_files.SearchIndexError(
        f"{path}: the shards' counts do not add up to {manifest['count']}.")
  on_disk = sorted(os.listdir(index_dir))
  for name in on_disk:
    entry = os.path.join(index_dir, name)
    if os.path.islink(entry):
      raise index_files.SearchIndexError(
          f"{entry} is a symbolic link; an index holds only its own files.")
  unlisted = sorted(set(on_disk) - set(names) - {index_files.MANIFEST})
  if unlisted:
    raise index_files.SearchIndexError(
        f"{index_dir} holds {unlisted[0]}, which its {index_files.MANIFEST} "
        "does not list; refusing to load it.")
  missing = [n for n in names if n not in on_disk]
  if missing:
    raise index_files.SearchIndexError(
        f"{index_dir} is incomplete: shard {missing[0]} is missing.")
  return manifest


def check_shard_manifest(shard_dir: str, expected_sha256: str) -> None:
  """Raises `SearchIndexError` unless the shard's manifest.json exists with
  the sha256 the top manifest lists."""
  path = os.path.join(shard_dir, index_files.MANIFEST)
  if not os.path.isfile(path):
    raise index_files.SearchIndexError(
        f"{shard_dir} is not a complete search index (no "
        f"{index_files.MANIFEST}).")
  if index_files.sha256(path) != expected_sha256:
    raise index_files.SearchIndexError(
        f"{path}: sha256 differs from the one the sharded index's "
        f"{index_files.MANIFEST} lists; the shard was changed after saving.")


def is_sharded(index_dir: str) -> bool:
  """Whether `index_dir`'s manifest says kind "sharded" (False if absent)."""
  try:
    return index_files.read_manifest_json(index_dir).get("kind") == KIND
  except index_files.SearchIndexError:
    return False
