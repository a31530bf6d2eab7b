# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Embedding shards: the output of `embed_pipeline`, the input of a sharded
index (`sharded_index.build_from_embedding_shards`).

An embeddings directory holds

  embeddings-<16 hex>.npz  one shard per unit of input (an img2dataset shard,
                           or a group of image files); the name is a hash of
                           the unit's input paths, so a rerun finds what is
                           done. An uncompressed NumPy .npz of
                             embeddings       float32 or float16 [n, dim],
                                              unit rows;
                             ids_data/ids_offsets, captions_*, sources_*:
                                              n UTF-8 strings each, as one
                                              uint8 buffer and int64 [n + 1]
                                              offsets;
                             meta             uint8 JSON: format_version,
                                              inputs, model, embed_dim, dtype,
                                              count, skipped {reason: n}.
  manifest.json            written last by a complete run: the model,
                           collection, dtype, embed_dim, total count, skipped
                           per reason, and each shard's name, inputs, count,
                           skipped and sha256.

Nothing here is pickled: shards are read with `allow_pickle=False`, every
array's dtype and shape is checked, and a shard's sha256 must be the one the
manifest lists. Files are read and written through `tf.io.gfile` (local
paths, gs://, ...).
"""
import hashlib
import io
import json
import re
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

FORMAT = "align-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_PREFIX = "embeddings-"
SHARD_SUFFIX = ".npz"
SHARD_NAME_RE = re.compile(r"embeddings-[0-9a-f]{16}\.npz")
DTYPES = ("float32", "float16")
_STRING_FIELDS = ("ids", "captions", "sources")


class EmbeddingShardError(ValueError):
  """An embeddings directory or shard that is incomplete or inconsistent."""


def shard_name(inputs: Sequence[str]) -> str:
  """The shard file name of a unit with these input paths."""
  digest = hashlib.sha256("\n".join(sorted(inputs)).encode("utf-8"))
  return f"{SHARD_PREFIX}{digest.hexdigest()[:16]}{SHARD_SUFFIX}"


def _pack(strings: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
  encoded = [s.encode("utf-8") for s in strings]
  offsets = np.zeros(len(encoded) + 1, np.int64)
  np.cumsum([len(e) for e in encoded], out=offsets[1:])
  return np.frombuffer(b"".join(encoded), np.uint8), offsets


def _unpack(data: np.ndarray, offsets: np.ndarray) -> List[str]:
  raw = data.tobytes()
  return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]


def encode_shard(embeddings: np.ndarray, ids: Sequence[str],
                 captions: Sequence[str], sources: Sequence[str],
                 meta: Dict[str, Any]) -> bytes:
  """The bytes of one shard file (see the module doc).

  Args:
    embeddings: float32 or float16 [n, dim].
    ids, captions, sources: n strings each.
    meta: JSON-serialisable facts (inputs, model, skipped, ...); `count`,
      `embed_dim`, `dtype` and `format_version` are filled in here.
  """
  embeddings = np.asarray(embeddings)
  if embeddings.dtype.name not in DTYPES or embeddings.ndim != 2:
    raise ValueError(f"embeddings must be float32/float16 [n, dim], got "
                     f"{embeddings.dtype} {embeddings.shape}.")
  arrays = {"embeddings": embeddings}
  for name, strings in zip(_STRING_FIELDS, (ids, captions, sources)):
    if len(strings) != embeddings.shape[0]:
      raise ValueError(f"{len(strings)} {name} for {embeddings.shape[0]} "
                       "embeddings.")
    arrays[f"{name}_data"], arrays[f"{name}_offsets"] = _pack(strings)
  meta = dict(meta, format_version=FORMAT_VERSION,
              count=int(embeddings.shape[0]),
              embed_dim=int(embeddings.shape[1]), dtype=embeddings.dtype.name)
  arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(),
                                 np.uint8)
  out = io.BytesIO()
  np.savez(out, **arrays)
  return out.getvalue()


def _field(npz, name: str, where: str) -> np.ndarray:
  if name not in npz.files:
    raise EmbeddingShardError(f"{where}: no array {name!r}.")
  return npz[name]


def decode_meta(npz, where: str) -> Dict[str, Any]:
  meta_bytes = _field(npz, "meta", where)
  try:
    meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
  except (UnicodeDecodeError, ValueError) as e:
    raise EmbeddingShardError(f"{where}: unreadable meta: {e}") from e
  if not isinstance(meta, dict) or meta.get("format_version") != (
      FORMAT_VERSION):
    raise EmbeddingShardError(f"{where}: not an embedding shard of format "
                              f"version {FORMAT_VERSION}.")
  return meta


def decode_shard(data: bytes, where: str) -> Dict[str, Any]:
  """The content of a shard file, checked (nothing unpickled).

  Args:
    data: the file's bytes.
    where: its path, for messages.

  Returns:
    {"embeddings": float32/float16 [n, dim], "ids", "captions", "sources":
    lists of n strings, "meta": dict}.

  Raises:
    EmbeddingShardError: naming `where` and the problem.
  """
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
      meta = decode_meta(npz, where)
      embeddings = _field(npz, "embeddings", where)
      strings = {}
      for name in _STRING_FIELDS:
        buffer = _field(npz, f"{name}_data", where)
        offsets = _field(npz, f"{name}_offsets", where)
        if (buffer.dtype != np.uint8 or offsets.dtype != np.int64
            or offsets.shape != (embeddings.shape[0] + 1,)
            or offsets[0] != 0 or offsets[-1] != buffer.size
            or np.any(np.diff(offsets) < 0)):
          raise EmbeddingShardError(f"{where}: {name} do not match the "
                                    f"{embeddings.shape[0]} embeddings.")
        strings[name] = _unpack(buffer, offsets)
  except (OSError, ValueError, UnicodeDecodeError) as e:
    if isinstance(e, EmbeddingShardError):
      raise
    raise EmbeddingShardError(f"{where}: cannot read the shard: "
                              f"{type(e).__name__}: {e}") from e
  if (embeddings.dtype.name not in DTYPES or embeddings.ndim != 2
      or embeddings.shape != (meta.get("count"), meta.get("embed_dim"))
      or embeddings.dtype.name != meta.get("dtype")):
    raise EmbeddingShardError(
        f"{where}: embeddings {embeddings.dtype} {embeddings.shape} do not "
        f"match its meta (count {meta.get('count')}, embed_dim "
        f"{meta.get('embed_dim')}, dtype {meta.get('dtype')}).")
  if embeddings.size and not np.all(np.isfinite(embeddings)):
    raise EmbeddingShardError(f"{where}: embeddings are not finite.")
  return dict(strings, embeddings=embeddings, meta=meta)


def read_shard_file(path: str) -> Dict[str, Any]:
  """`decode_shard` of the file at `path`."""
  with tf.io.gfile.GFile(path, "rb") as f:
    return decode_shard(f.read(), path)


def read_shard_meta(path: str) -> Dict[str, Any]:
  """Only the meta of the shard at `path` (the other arrays are not read)."""
  with tf.io.gfile.GFile(path, "rb") as f:
    try:
      with np.load(io.BytesIO(f.read()), allow_pickle=False) as npz:
        return decode_meta(npz, path)
    except (OSError, ValueError) as e:
      if isinstance(e, EmbeddingShardError):
        raise
      raise EmbeddingShardError(f"{path}: cannot read the shard: {e}") from e


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def read_manifest(embeddings_dir: str) -> Dict[str, Any]:
  """The manifest of a complete embeddings directory, its types checked.

  Raises:
    EmbeddingShardError: no manifest (the run is incomplete), or one of the
      wrong shape.
  """
  path = f"{embeddings_dir.rstrip('/')}/{MANIFEST}"
  if not tf.io.gfile.exists(path):
    raise EmbeddingShardError(
        f"{embeddings_dir} is not a complete embeddings directory (no "
        f"{MANIFEST}; run or rerun `python -m official.align.search embed`).")
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      manifest = json.loads(f.read())
  except (ValueError, tf.errors.OpError) as e:
    raise EmbeddingShardError(f"Cannot read {path}: {e}") from e
  if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
      or manifest.get("format_version") != FORMAT_VERSION):
    raise EmbeddingShardError(f"{path} is not an embeddings manifest of "
                              f"format version {FORMAT_VERSION}.")
  shards = manifest.get("shards")
  if not isinstance(shards, list) or not all(
      isinstance(s, dict) and isinstance(s.get("name"), str)
      and SHARD_NAME_RE.fullmatch(s["name"])
      and isinstance(s.get("count"), int) and isinstance(s.get("sha256"), str)
      for s in shards):
    raise EmbeddingShardError(f"{path}: shards must list name (embeddings-"
                              "<16 hex>.npz), count and sha256 of each shard.")
  for key, kind in (("embed_dim", int), ("count", int), ("dtype", str)):
    if not isinstance(manifest.get(key), kind):
      raise EmbeddingShardError(f"{path}: {key} must be a {kind.__name__}.")
  return manifest


def read_listed_shard(embeddings_dir: str, entry: Dict[str, Any],
                      embed_dim: int) -> Dict[str, Any]:
  """A shard the manifest lists, checked against its sha256 and size."""
  path = f"{embeddings_dir.rstrip('/')}/{entry['name']}"
  if not tf.io.gfile.exists(path):
    raise EmbeddingShardError(f"{path} is listed in {MANIFEST} but missing.")
  with tf.io.gfile.GFile(path, "rb") as f:
    data = f.read()
  if hashlib.sha256(data).hexdigest() != entry["sha256"]:
    raise EmbeddingShardError(f"{path}: sha256 differs from the one in "
                              f"{MANIFEST}; the shard was changed or damaged.")
  shard = decode_shard(data, path)
  # A unit whose every image was skipped holds [0, 0] embeddings.
  if (len(shard["ids"]) != entry["count"]
      or (entry["count"] and shard["meta"]["embed_dim"] != embed_dim)):
    raise EmbeddingShardError(f"{path}: {len(shard['ids'])} rows of "
                              f"{shard['meta']['embed_dim']}-d, the manifest "
                              f"says {entry['count']} of {embed_dim}-d.")
  return shard
