# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Writes an embeddings directory (`embedding_shards`) so a run can resume.

`publish_unit` stages a unit's shard and its small `.json` summary under
temporary names and renames them into place (`atomic_publish`), the summary
last: it marks the unit done. `read_summaries` finds the units done (a
summary whose shard is in place), so a rerun embeds only the others;
`check_same_run` refuses a directory holding another model's or dtype's
embeddings; `write_manifest` publishes manifest.json when every unit is
done, and `delete_stale_temporaries` deletes what killed runs left. Files go
through `tf.io.gfile` (local paths, gs://, ...).
"""
import json
from typing import Any, Dict

import tensorflow as tf

from official.align import atomic_publish
from official.align.search import embedding_shards

SUMMARY_SUFFIX = ".json"


def _join(directory: str, name: str) -> str:
  return f"{directory.rstrip('/')}/{name}"


def _summary_path(output_dir: str, name: str) -> str:
  return _join(output_dir, name[:-len(embedding_shards.SHARD_SUFFIX)]
               + SUMMARY_SUFFIX)


def _write_staged(path: str, data: bytes) -> str:
  staged = atomic_publish.staging_path(path)
  with tf.io.gfile.GFile(staged, "wb") as f:
    f.write(data)
  return staged


def publish_unit(output_dir: str, name: str, data: bytes,
                 summary: Dict[str, Any]) -> None:
  """Publishes shard `name` (its bytes `data`), then its summary."""
  shard_path = _join(output_dir, name)
  summary_path = _summary_path(output_dir, name)
  staged = [_write_staged(shard_path, data),
            _write_staged(summary_path, json.dumps(summary).encode())]
  # The summary last: it marks the unit done.
  atomic_publish.publish(list(zip(staged, (shard_path, summary_path))),
                         atomic_publish.gfile_ops())


def read_summaries(output_dir: str) -> Dict[str, Dict[str, Any]]:
  """name → summary of every unit done in `output_dir`."""
  pattern = _join(output_dir, embedding_shards.SHARD_PREFIX + "*"
                  + SUMMARY_SUFFIX)
  summaries = {}
  for path in tf.io.gfile.glob(pattern):
    with tf.io.gfile.GFile(path, "r") as f:
      summary = json.loads(f.read())
    shard = _join(output_dir, summary.get("name", ""))
    if _summary_path(output_dir, summary.get("name", "x.npz")) == path and (
        tf.io.gfile.exists(shard)):
      summaries[summary["name"]] = summary
  return summaries


def check_same_run(summaries: Dict[str, Dict[str, Any]], model: str,
                   dtype: str, output_dir: str) -> None:
  """Raises ValueError if a unit done was embedded by another model or in
  another dtype."""
  for summary in summaries.values():
    if (summary.get("model"), summary.get("dtype")) != (model, dtype):
      raise ValueError(
          f"{output_dir} holds embeddings of {summary.get('model')} "
          f"({summary.get('dtype')}), not {model} ({dtype}); use another "
          "output_dir.")


def write_manifest(output_dir: str, manifest: Dict[str, Any]) -> None:
  """Publishes manifest.json (`embedding_shards`), which completes the run."""
  path = _join(output_dir, embedding_shards.MANIFEST)
  staged = _write_staged(path, json.dumps(manifest, indent=2,
                                          sort_keys=True).encode())
  atomic_publish.publish([(staged, path)], atomic_publish.gfile_ops())


def delete_stale_temporaries(output_dir: str) -> None:
  """Deletes the staged files of killed runs (never read)."""
  for path in tf.io.gfile.glob(_join(output_dir, "*.tmp-*")):
    tf.io.gfile.remove(path)
