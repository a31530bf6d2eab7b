# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Embeds an image collection with an exported model, on Apache Beam.

  python -m official.align.search embed --hub_dir=runs/demo/export \
      --images='shards/*.tfrecord' --output_dir=runs/embeddings \
      [--embedding_dtype=float16] [--runner=DataflowRunner --project=... \
       --region=... --temp_location=gs://... (any Beam pipeline option)]

The collection is what `search build` reads (`collection`: img2dataset
TFRecord or webdataset shards, or image files). Each input shard (or group
of `files_per_shard` image files) is one unit of work and gives one
embedding shard (`embedding_shards`): (id, embedding, caption, source) per
usable image, and the number of images skipped per reason.

  read      one unit: `collection.iterate_items` (the same checks and skip
            reasons as `search build`), captions from the records' text
            feature or img2dataset's `.txt` beside an image file;
  embed     `BatchElements` batches of encoded images through the export's
            own `image_bytes` signature (its own decoding, resizing and
            cropping), loaded once per worker process (`DoFn.setup` with
            `beam.utils.shared`); an image the module cannot decode is
            skipped as `decode_error`;
  write     per unit, the embeddings in input order, as float32 or float16.

Atomic and resumable (`embeddings_writer`): a unit is done once its shard,
then its summary, are renamed into place. A rerun with the same output_dir
embeds only the units not done, so a killed run leaves complete shards (used
again) and at most temporary files (never read, deleted by the next complete
run). `manifest.json` is written last, from every unit's summary, when all
units are done. Embeddings of another model or dtype in output_dir are
refused.

Beam runs the read and embed steps wherever its runner puts them
(DirectRunner here; Dataflow, Flink or Spark with --runner). Workers need
this package with the `beam` extra and read the export and the collection
through `tf.io.gfile`, so those paths (and output_dir) must be on storage
every worker reaches (gs://, or a shared file system).
"""
import dataclasses
import hashlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from official.align import extras
from official.align.dataloaders import shard_format
from official.align.inference import queries
from official.align.search import collection
from official.align.search import embedding_shards
from official.align.search import embeddings_writer
from official.align.search import items as items_lib

beam = extras.require("apache_beam", "beam", "The embedding pipeline")
from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top,g-bad-import-order
from apache_beam.runners.runner import PipelineState  # pylint: disable=g-import-not-at-top,g-bad-import-order
from apache_beam.utils import shared  # pylint: disable=g-import-not-at-top,g-bad-import-order

DEFAULT_FILES_PER_SHARD = 1000
DEFAULT_BATCH_SIZE = 64
_SKIPPED = "skipped"
_IMAGE_MODULE = "image_encoder"


class EmbeddingError(RuntimeError):
  """The pipeline failed; complete shards stay, the manifest is not written."""


@dataclasses.dataclass(frozen=True)
class Unit:
  """One unit of work: input files giving one embedding shard.

  Attributes:
    name: the shard's file name (`embedding_shards.shard_name(files)`).
    files: input paths (one shard, or a group of image files).
    fmt: "tfrecord", "webdataset" or "files".
  """
  name: str
  files: Tuple[str, ...]
  fmt: str


def plan_units(spec: str, fmt: str = "auto",
               files_per_shard: int = DEFAULT_FILES_PER_SHARD) -> List[Unit]:
  """The units of a collection: one per shard, or per group of image files.

  Raises:
    ValueError: nothing matches `spec`, or a bad format.
  """
  files, fmt = collection.list_collection(spec, fmt)
  if fmt == "files":
    groups = [tuple(files[i:i + files_per_shard])
              for i in range(0, len(files), files_per_shard)]
  else:
    groups = [(f,) for f in files]
  return [Unit(embedding_shards.shard_name(g), g, fmt) for g in groups]


def _captions(unit: Unit, keys: shard_format.FeatureKeys) -> Dict[str, str]:
  if unit.fmt == "files":
    store = items_lib.ItemStore(files={f: f for f in unit.files})
    return {f: store.caption(f) or "" for f in unit.files}
  return dict(items_lib.iterate_shard_captions(unit.files, unit.fmt, keys))


class _ReadUnitFn(beam.DoFn):
  """Unit → (unit name, (position, id, image bytes, caption, source)) per
  usable image; tagged `_SKIPPED`: (unit name, reason, count)."""

  def __init__(self, keys: shard_format.FeatureKeys):
    super().__init__()
    self._keys = keys

  def process(self, unit: Unit):
    skipped = collection.SkipCounter()
    captions = _captions(unit, self._keys)
    position = 0
    try:
      for item_id, image in collection.iterate_items(
          list(unit.files), unit.fmt, skipped, self._keys):
        source = item_id if unit.fmt == "files" else unit.files[0]
        yield unit.name, (position, item_id, image,
                          captions.get(item_id, ""), source)
        position += 1
    except tf.errors.OpError as e:
      # A damaged shard: what was read before the damage is kept.
      logging.warning("Skipped the rest of %s: %s", unit.files,
                      e.message.splitlines()[0])
      skipped["unreadable_shard"] += 1
    for reason, count in skipped.items():
      if count:
        yield beam.pvalue.TaggedOutput(_SKIPPED, (unit.name, reason, count))


class _ImageEncoder:
  """The export's `image_bytes` signature (weak-referenceable for
  `beam.utils.shared`)."""

  def __init__(self, hub_dir: str):
    path = f"{hub_dir.rstrip('/')}/{_IMAGE_MODULE}"
    self.module = tf.saved_model.load(path)
    self.signature = self.module.signatures["image_bytes"]
    logging.info("Loaded the image encoder %s", path)

  def __call__(self, encoded: Sequence[bytes]) -> np.ndarray:
    """float32 [n, dim] unit rows; raises InvalidArgumentError on a bad
    image."""
    out = self.signature(image_bytes=tf.constant(list(encoded), tf.string))
    return queries.l2_normalize_rows(out["embeddings"].numpy())


class _EmbedBatchFn(beam.DoFn):
  """A batch of read items → (unit name, (position, id, embedding float32
  [dim], caption, source)); tagged `_SKIPPED` for undecodable images."""

  def __init__(self, hub_dir: str):
    super().__init__()
    self._hub_dir = hub_dir
    self._shared = shared.Shared()
    self._encoder = None

  def setup(self):
    hub_dir = self._hub_dir
    self._encoder = self._shared.acquire(lambda: _ImageEncoder(hub_dir))

  def process(self, batch):
    try:
      rows = self._encoder([item[2] for _, item in batch])
      good = list(zip(batch, rows))
    except tf.errors.InvalidArgumentError:
      # One bad image: embed this batch one by one, skipping failures.
      good = []
      for element in batch:
        try:
          good.append((element, self._encoder([element[1][2]])[0]))
        except tf.errors.InvalidArgumentError:
          logging.warning("Skipped %s: cannot decode the image.",
                          element[1][1])
          yield beam.pvalue.TaggedOutput(_SKIPPED,
                                         (element[0], "decode_error", 1))
    for (name, (position, item_id, _, caption, source)), row in good:
      yield name, (position, item_id, row, caption, source)


class _WriteShardFn(beam.DoFn):
  """(unit name, {unit, items, skipped}) → the shard and its summary,
  published atomically; yields the summary."""

  def __init__(self, output_dir: str, dtype: str, model: str):
    super().__init__()
    self._output_dir = output_dir
    self._dtype = dtype
    self._model = model

  def process(self, element):
    name, grouped = element
    (unit,) = grouped["unit"]
    rows = sorted(grouped["items"], key=lambda item: item[0])
    skipped = {}
    for reason, count in grouped[_SKIPPED]:
      skipped[reason] = skipped.get(reason, 0) + count
    embed_dim = rows[0][2].shape[-1] if rows else 0
    embeddings = (np.stack([r[2] for r in rows]) if rows
                  else np.zeros([0, 0], np.float32)).astype(self._dtype)
    meta = {"inputs": list(unit.files), "model": self._model,
            "skipped": dict(sorted(skipped.items()))}
    data = embedding_shards.encode_shard(
        embeddings, [r[1] for r in rows], [r[3] for r in rows],
        [r[4] for r in rows], meta)
    summary = dict(meta, name=name, count=len(rows), embed_dim=embed_dim,
                   dtype=self._dtype, bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest())
    embeddings_writer.publish_unit(self._output_dir, name, data, summary)
    yield summary


def build_pipeline(pipeline, units: Sequence[Unit], hub_dir: str,
                   output_dir: str, dtype: str = "float32",
                   batch_size: int = DEFAULT_BATCH_SIZE,
                   keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS):
  """Adds read → embed → write for `units`; returns the summaries."""
  units = (pipeline
           | "Units" >> beam.Create(list(units))
           | "SpreadUnits" >> beam.Reshuffle())
  read = units | "Read" >> beam.ParDo(_ReadUnitFn(keys)).with_outputs(
      _SKIPPED, main="items")
  embedded = (read.items
              | "Batch" >> beam.BatchElements(min_batch_size=batch_size,
                                              max_batch_size=batch_size)
              | "Embed" >> beam.ParDo(_EmbedBatchFn(hub_dir)).with_outputs(
                  _SKIPPED, main="rows"))
  skipped = ((read[_SKIPPED], embedded[_SKIPPED])
             | "AllSkipped" >> beam.Flatten()
             | "SkipKey" >> beam.Map(lambda s: ((s[0], s[1]), s[2]))
             | "SumSkipped" >> beam.CombinePerKey(sum)
             | "ByUnit" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1]))))
  return ({"unit": units | "UnitKey" >> beam.Map(lambda u: (u.name, u)),
           "items": embedded.rows, _SKIPPED: skipped}
          | "JoinUnit" >> beam.CoGroupByKey()
          | "Write" >> beam.ParDo(_WriteShardFn(output_dir, dtype, hub_dir)))


def run(images: str, hub_dir: str, output_dir: str, fmt: str = "auto",
        dtype: str = "float32", batch_size: int = DEFAULT_BATCH_SIZE,
        files_per_shard: int = DEFAULT_FILES_PER_SHARD,
        keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
        pipeline_options: Optional[PipelineOptions] = None) -> Dict[str, Any]:
  """Embeds the units of `images` not yet done; returns the manifest.

  Args:
    images: the collection (`collection.list_collection`).
    hub_dir: the TF-Hub export (its `image_encoder/`).
    output_dir: where shards, summaries and manifest.json go (created).
    fmt: one of `collection.COLLECTION_FORMATS`.
    dtype: "float32" or "float16" embeddings.
    batch_size: images per encoder call.
    files_per_shard: image files per unit (image-file collections).
    keys: feature names of shard records.
    pipeline_options: Beam options (runner, ...); default DirectRunner.

  Returns:
    The manifest (`embedding_shards`), also written to output_dir.

  Raises:
    ValueError: bad arguments, nothing matches `images`, or output_dir
      holds embeddings of another model or dtype.
    EmbeddingError: the pipeline failed (complete shards stay; rerun).
  """
  if dtype not in embedding_shards.DTYPES:
    raise ValueError(f"dtype must be one of {embedding_shards.DTYPES}, got "
                     f"{dtype!r}.")
  if not tf.io.gfile.isdir(f"{hub_dir.rstrip('/')}/{_IMAGE_MODULE}"):
    raise FileNotFoundError(f"No {_IMAGE_MODULE}/ in {hub_dir} (expected the "
                            "output of export/export_tfhub.py).")
  units = plan_units(images, fmt, files_per_shard)
  tf.io.gfile.makedirs(output_dir)
  done = embeddings_writer.read_summaries(output_dir)
  embeddings_writer.check_same_run(done, hub_dir, dtype, output_dir)
  todo = [u for u in units if u.name not in done]
  logging.info("%d units, %d done before, %d to embed.", len(units),
               len(units) - len(todo), len(todo))
  if todo:
    try:
      pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
      build_pipeline(pipeline, todo, hub_dir, output_dir, dtype, batch_size,
                     keys)
      state = pipeline.run().wait_until_finish()
      if state != PipelineState.DONE:
        raise EmbeddingError(f"Pipeline finished in state {state}.")
    except Exception as e:
      raise EmbeddingError(
          f"Embedding {images} failed; complete shards stay in {output_dir} "
          f"and a rerun embeds the rest: {type(e).__name__}: {e}") from e
  done = embeddings_writer.read_summaries(output_dir)
  missing = [u.name for u in units if u.name not in done]
  if missing:
    raise EmbeddingError(f"{len(missing)} units have no shard in "
                         f"{output_dir} (e.g. {missing[0]}); rerun.")
  shards = [done[u.name] for u in units]
  skipped = {}
  for summary in shards:
    for reason, count in summary["skipped"].items():
      skipped[reason] = skipped.get(reason, 0) + count
  manifest = {
      "format": embedding_shards.FORMAT,
      "format_version": embedding_shards.FORMAT_VERSION,
      "model": hub_dir,
      "model_source": {"hub_dir": hub_dir},
      "collection": images,
      "collection_format": units[0].fmt,
      "dtype": dtype,
      "embed_dim": max(s["embed_dim"] for s in shards),
      "count": sum(s["count"] for s in shards),
      "skipped": dict(sorted(skipped.items())),
      "embedded_this_run": len(todo),
      "shards": [{k: s[k] for k in ("name", "inputs", "count", "skipped",
                                    "sha256", "bytes")} for s in shards],
  }
  embeddings_writer.write_manifest(output_dir, manifest)
  embeddings_writer.delete_stale_temporaries(output_dir)
  logging.info("Embedded %d images in %d shards (%d embedded this run), "
               "skipped %s.", manifest["count"], len(shards), len(todo),
               skipped)
  return manifest
