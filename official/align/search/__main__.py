# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Cross-modal search CLI: embed and index images, query them, serve a page.

  python -m official.align.search build --hub_dir=runs/demo/export \
      --images='photos/*.jpg' --index_dir=runs/index
  python -m official.align.search build --hub_dir=runs/demo/export \
      --images='shards/*.tfrecord' --index_dir=runs/index [--storage=int8]
  python -m official.align.search embed --hub_dir=runs/demo/export \
      --images='shards/*.tfrecord' --output_dir=runs/embeddings \
      [--embedding_dtype=float16] [--runner=DataflowRunner ...Beam options]
  python -m official.align.search build --embeddings=runs/embeddings \
      --index_dir=runs/index [--vectors_per_shard=1000000] [--storage=int8]
  python -m official.align.search search --index_dir=runs/index \
      --text="a blue circle" [--image=red_circle.png] \
      [--image_weight=1 --text_weight=2] [--top_k=10]
  python -m official.align.search serve --index_dir=runs/index \
      --hub_dir=runs/demo/export [--host=127.0.0.1] [--port=8080]

`search` and `serve` need --hub_dir or --model_dir; --use_index_model loads
the model the index's manifest records instead (a SavedModel or a run dir is
code: only for an index you trust). The path of the model being loaded is
printed to stderr. An index directory is data: it is checked before use and
nothing in it is unpickled (`SearchIndex.load`). ScaNN settings are gin
bindings of `ScannConfig`, e.g.
--gin_bindings='ScannConfig.leaves_to_search=40'. Negative weights subtract:
write them as --text_weight=-1.

`embed` runs `embed_pipeline` on Apache Beam (resumable: a rerun embeds
what is missing); `build --embeddings` indexes its shards as a sharded index
(`sharded_index`), which `search` and `serve` take as they take one index.

`serve` runs the search page (`server`) and prints its URL. It binds to
127.0.0.1 (this machine only) unless --host says otherwise; thumbnails come
from the collection the manifest records (or --images); its limits are gin
bindings of `SearchPageConfig`, e.g.
--gin_bindings='SearchPageConfig.max_upload_bytes = 20000000'.
"""
import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import gin

from official.align.inference import embedder as embedder_lib
from official.align.inference import loaders
from official.align.inference import model_flags
from official.align.search import collection
from official.align.search import index as index_lib
from official.align.search import items as items_lib
from official.align.search import page_search
from official.align.search import search_lib
from official.align.search import server
from official.align.search import sharded_index

COMMANDS = ("build", "embed", "search", "serve")

FLAGS = flags.FLAGS
flags.DEFINE_string("index_dir", None, "Index directory (written by build).")
model_flags.define_model_flags(
    gin_bindings_help="Gin bindings, e.g. 'ScannConfig.num_leaves=1000' "
    "(also applied after the operative config of --model_dir)")
flags.adopt_module_key_flags(model_flags)
# build
flags.DEFINE_string("images", None, "build: glob(s) or directory of image "
                    "files, or img2dataset shard glob(s). serve: the "
                    "collection the thumbnails come from (default: the one "
                    "the index's manifest records).")
flags.DEFINE_enum("images_format", "auto", collection.COLLECTION_FORMATS,
                  "build, serve: format of --images (auto: from file "
                  "names).")
flags.DEFINE_enum("index_kind", "auto", index_lib.INDEX_KINDS,
                  "build: ScaNN, exact brute force, or auto (ScaNN from "
                  "ScannConfig.min_count images on).")
flags.DEFINE_bool("overwrite", False, "build: replace an existing index_dir.")
flags.DEFINE_enum("storage", "float32", index_lib.STORAGES,
                  "build: float32 rows, or int8 codes with a scale per row "
                  "(a quarter of the bytes; quantised scores).")
flags.DEFINE_string("embeddings", None,
                    "build: an embeddings directory written by `embed` "
                    "(instead of --images): builds a sharded index.")
flags.DEFINE_integer("vectors_per_shard", 1_000_000,
                     "build --embeddings: rows per index shard (at least; "
                     "whole embedding shards stay together).")
# embed
# `filtering.beam_pipeline` defines the same flag (a directory its pipeline
# writes); a process may import both (the tests do), so it is defined once.
if "output_dir" not in flags.FLAGS:
  flags.DEFINE_string("output_dir", None, "embed: where the embedding shards "
                      "and manifest.json go (a rerun resumes).")
flags.DEFINE_enum("embedding_dtype", "float32", ("float32", "float16"),
                  "embed: dtype of the stored embeddings.")
flags.DEFINE_integer("files_per_shard", 1000, "embed: image files per "
                     "embedding shard (an input shard gives one).")
# No --runner flag here: it and every other Beam option (--runner=
# DataflowRunner --project=...) pass through to Beam, DirectRunner by
# default. An absl flag would also swallow `--runner` in the filter's
# command line when both modules are imported in one process.
# search
flags.DEFINE_string("text", None, "search: query text.")
flags.DEFINE_string("image", None, "search: query image file.")
flags.DEFINE_float("image_weight", search_lib.DEFAULT_IMAGE_WEIGHT,
                   "search: weight of the image embedding (negative "
                   "subtracts).")
flags.DEFINE_float("text_weight", search_lib.DEFAULT_TEXT_WEIGHT,
                   "search: weight of the text embedding (negative "
                   "subtracts).")
flags.DEFINE_integer("top_k", 10, "search: results to print.")
flags.DEFINE_bool("exact", False, "search: exact search even on a ScaNN "
                  "index.")
flags.DEFINE_bool("json", False, "search: print one JSON line per result.")
flags.DEFINE_bool("use_index_model", False,
                  "search, serve: without --hub_dir/--model_dir, load the "
                  "model the index's manifest records (model_source). "
                  "Loading a model runs its code: only for an index you "
                  "trust.")

# serve
flags.DEFINE_string("host", server.LOOPBACK,
                    "serve: address to bind. The default, 127.0.0.1, keeps "
                    "the page to this machine; give it explicitly (e.g. "
                    "0.0.0.0) to expose the page on the network.")
flags.DEFINE_integer("port", 8080, "serve: port (0: a free one, printed).")

MODEL_SOURCE_KEYS = ("hub_dir", "model_dir", "checkpoint")


_EMBEDDERS = {}


def _embedder(model_source) -> embedder_lib.Embedder:
  """The model of `model_source` (loaded once per process)."""
  key = (tuple(sorted(model_source.items())), tuple(FLAGS.gin_bindings),
         FLAGS.batch_size)
  if key not in _EMBEDDERS:
    _EMBEDDERS[key] = loaders.load(
        hub_dir=model_source.get("hub_dir"),
        model_dir=model_source.get("model_dir"),
        checkpoint=model_source.get("checkpoint"),
        gin_bindings=FLAGS.gin_bindings, batch_size=FLAGS.batch_size)
  return _EMBEDDERS[key]


def _cli_model_source():
  source = model_flags.model_source_from_flags()
  if FLAGS.hub_dir and FLAGS.model_dir:
    raise app.UsageError("Give --hub_dir or --model_dir, not both.")
  return source


def build() -> None:
  if FLAGS.embeddings:
    build_from_embeddings()
    return
  if not (FLAGS.images and FLAGS.index_dir):
    raise app.UsageError("build needs --images (or --embeddings) and "
                         "--index_dir.")
  source = _cli_model_source()
  if not source.get("hub_dir") and not source.get("model_dir"):
    raise app.UsageError("build needs --hub_dir or --model_dir.")
  if os.path.exists(FLAGS.index_dir) and not FLAGS.overwrite:
    raise FileExistsError(
        f"{FLAGS.index_dir} already exists (pass --overwrite).")
  collection.list_collection(FLAGS.images, FLAGS.images_format)  # Fail fast.
  gin.parse_config(FLAGS.gin_bindings, skip_unknown=True)
  # ScannConfig is gin-bound (--gin_bindings).
  scann_config = index_lib.ScannConfig()
  embedder = _embedder(source)
  index = search_lib.build_index(
      embedder, FLAGS.images, FLAGS.index_dir, fmt=FLAGS.images_format,
      kind=FLAGS.index_kind, scann_config=scann_config, model=source,
      batch_size=FLAGS.batch_size, overwrite=FLAGS.overwrite, progress=True,
      storage=FLAGS.storage)
  skipped = index.metadata.get("skipped") or {}
  print(f"Indexed {len(index)} images ({index.kind}, {index.embed_dim}-d, "
        f"{index.storage}) in {FLAGS.index_dir}; skipped "
        f"{sum(skipped.values())} {skipped}")


def build_from_embeddings() -> None:
  """build --embeddings: a sharded index of embedding shards (no model)."""
  if not FLAGS.index_dir:
    raise app.UsageError("build needs --index_dir.")
  if FLAGS.images:
    raise app.UsageError("Give --images or --embeddings, not both.")
  gin.parse_config(FLAGS.gin_bindings, skip_unknown=True)
  index = sharded_index.build_from_embedding_shards(
      FLAGS.embeddings, FLAGS.index_dir,
      vectors_per_shard=FLAGS.vectors_per_shard, kind=FLAGS.index_kind,
      scann_config=index_lib.ScannConfig(), storage=FLAGS.storage,
      overwrite=FLAGS.overwrite)
  skipped = index.metadata.get("skipped") or {}
  print(f"Indexed {len(index)} images in {len(index.shards)} shards "
        f"({index.shard_kind}, {index.embed_dim}-d, {index.storage}) in "
        f"{FLAGS.index_dir}; skipped {sum(skipped.values())} {skipped}")


def embed(beam_args) -> None:
  """embed: the Beam embedding pipeline (`embed_pipeline`)."""
  if not (FLAGS.images and FLAGS.output_dir):
    raise app.UsageError("embed needs --images and --output_dir.")
  if not FLAGS.hub_dir:
    raise app.UsageError("embed needs --hub_dir (a TF-Hub export: workers "
                         "load its image_encoder).")
  # Only this command needs Apache Beam (the `beam` extra).
  from official.align.search import embed_pipeline  # pylint: disable=g-import-not-at-top
  try:
    manifest = embed_pipeline.run(
        FLAGS.images, FLAGS.hub_dir, FLAGS.output_dir,
        fmt=FLAGS.images_format, dtype=FLAGS.embedding_dtype,
        batch_size=FLAGS.batch_size, files_per_shard=FLAGS.files_per_shard,
        pipeline_options=embed_pipeline.PipelineOptions(
            list(beam_args)))
  except embed_pipeline.EmbeddingError as e:
    logging.debug("embed failed", exc_info=True)
    sys.exit(f"search: error: {e}")
  skipped = manifest["skipped"]
  print(f"Embedded {manifest['count']} images in {len(manifest['shards'])} "
        f"shards ({manifest['embedded_this_run']} embedded by this run) in "
        f"{FLAGS.output_dir}; skipped {sum(skipped.values())} {skipped}")


def search() -> None:
  if not FLAGS.index_dir:
    raise app.UsageError("search needs --index_dir.")
  if FLAGS.text is None and FLAGS.image is None:
    raise app.UsageError("search needs --text, --image, or both.")
  if FLAGS.top_k < 1:
    raise app.UsageError(f"--top_k must be >= 1, got {FLAGS.top_k}.")
  if FLAGS.text is not None and not FLAGS.text.strip():
    raise ValueError("The query text is empty; give some words (or only an "
                     "image).")
  if FLAGS.image is not None and not os.path.isfile(FLAGS.image):
    raise FileNotFoundError(f"Query image not found: {FLAGS.image}")
  source = _cli_model_source()
  index = search_lib.load_index(FLAGS.index_dir)
  if not source:
    source = _index_model_source(index)
  print("Loading the model " + ", ".join(
      f"{k}={v}" for k, v in sorted(source.items())), file=sys.stderr)
  embedder = _embedder(source)
  results = search_lib.search(
      index, embedder, text=FLAGS.text, image=FLAGS.image,
      image_weight=FLAGS.image_weight, text_weight=FLAGS.text_weight,
      top_k=FLAGS.top_k, exact=FLAGS.exact)
  for rank, (item_id, score) in enumerate(results, 1):
    if FLAGS.json:
      print(json.dumps({"rank": rank, "score": round(score, 6),
                        "id": item_id}))
    else:
      print(f"{rank:3d}  {score:.4f}  {item_id}")


def serve() -> None:
  if not FLAGS.index_dir:
    raise app.UsageError("serve needs --index_dir.")
  source = _cli_model_source()
  gin.parse_config(FLAGS.gin_bindings, skip_unknown=True)
  # Read now: from_model_dir replaces the global gin config.
  config = page_search.SearchPageConfig()
  index = page_search.open_index(FLAGS.index_dir)
  if not source:
    source = _index_model_source(index)
  server.check_port_free(FLAGS.host, FLAGS.port)
  print("Loading the model " + ", ".join(
      f"{k}={v}" for k, v in sorted(source.items())), file=sys.stderr)
  embedder = _embedder(source)
  spec = FLAGS.images or index.metadata.get("collection")
  print(f"Thumbnails from {spec}" if spec else "No thumbnails: the index "
        "records no collection (give --images).", file=sys.stderr)
  items = items_lib.ItemStore.from_collection(
      spec, FLAGS.images_format, index.ids, max_side=config.thumbnail_size)
  page = page_search.SearchPage(index, embedder, items, config)
  server.serve(page, host=FLAGS.host, port=FLAGS.port)


def _index_model_source(index: sharded_index.AnyIndex) -> dict:
  """The manifest's model_source, if --use_index_model opts in.

  Raises:
    ValueError: no opt-in, or a model_source that is not a dict of
      hub_dir/model_dir/checkpoint paths.
  """
  recorded = index.metadata.get("model_source")
  if not FLAGS.use_index_model:
    raise ValueError(
        "Give --hub_dir or --model_dir (the index was built with "
        f"{recorded or 'an unrecorded model'}); --use_index_model loads the "
        "model the index records, which runs its code: only for an index "
        "you trust.")
  if (not isinstance(recorded, dict) or not recorded
      or not set(recorded) <= set(MODEL_SOURCE_KEYS)
      or not all(isinstance(v, str) for v in recorded.values())
      or not (recorded.get("hub_dir") or recorded.get("model_dir"))):
    raise ValueError(
        f"{FLAGS.index_dir}: model_source {recorded!r} names no model (a "
        f"dict of {', '.join(MODEL_SOURCE_KEYS)} paths); give --hub_dir or "
        "--model_dir.")
  return recorded


def parse_flags(argv):
  """This module's flags; the rest (commands, Beam options) goes to main."""
  try:
    return FLAGS(argv, known_only=True)
  except flags.Error as e:
    sys.exit(f"FATAL Flags parsing error: {e}")


def main(argv):
  commands = [a for a in argv[1:] if not a.startswith("-")]
  others = [a for a in argv[1:] if a.startswith("-")]
  if len(commands) != 1 or commands[0] not in COMMANDS:
    raise app.UsageError(f"Give one command: {' or '.join(COMMANDS)} "
                         f"(got {commands}).")
  if others and commands[0] != "embed":
    raise app.UsageError(f"Unknown flags {others} (only embed passes Beam "
                         "options on).")
  try:
    if commands[0] == "embed":
      embed(others)
    else:
      {"build": build, "search": search, "serve": serve}[commands[0]]()
  except (OSError, ValueError, index_lib.SearchIndexError) as e:
    # OSError: missing files, an existing index_dir, a port in use.
    logging.debug("search failed", exc_info=True)
    sys.exit(f"search: error: {e}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
