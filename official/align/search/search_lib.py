# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Cross-modal search: embed a collection, index it, query it.

  from official.align.inference import loaders
  from official.align.search import search_lib

  embedder = loaders.from_hub_dir("runs/demo/export")
  index = search_lib.build_index(embedder, "photos/*.jpg",
                                 index_dir="runs/demo/index")
  index = search_lib.load_index("runs/demo/index", embedder)
  results = search_lib.search(index, embedder, text="a blue circle",
                              image="red_circle.png", top_k=5)
  # [(id, score), ...] best first.

`load_index` and `search` take a sharded index (`sharded_index`: built
from the embedding shards of `embed_pipeline`) as they take one index.

Queries follow the paper (section 7): the image and the text embedding are
L2-normalised, added with weights (negative subtracts) and re-normalised
(`queries.combine_queries`). By default the text weighs twice the image,
the ratio the paper found best.
"""
import os
from typing import Dict, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from official.align.inference import embedder as embedder_lib
from official.align.inference import image_files
from official.align.inference import queries
from official.align.search import collection
from official.align.search import index as index_lib
from official.align.search import sharded_index

DEFAULT_IMAGE_WEIGHT = 1.0
DEFAULT_TEXT_WEIGHT = 2.0


def embed_collection(embedder: embedder_lib.Embedder, spec: str,
                     fmt: str = "auto", batch_size: int = 64,
                     progress: bool = False
                     ) -> Tuple[np.ndarray, List[str], Dict[str, int]]:
  """Embeds every usable image of a collection (see `collection`).

  Images that fail to decode are skipped and counted as "decode_error".

  Args:
    embedder: the model.
    spec: glob(s) or directory of image files, or shard glob(s).
    fmt: one of `collection.COLLECTION_FORMATS`.
    batch_size: images per encoder call.
    progress: log a line every 100 batches.

  Returns:
    (float32 [count, dim] unit embeddings, `count` ids, skipped per reason).

  Raises:
    ValueError: nothing matches `spec`, or no image could be embedded.
  """
  skipped = collection.SkipCounter()
  ids, chunks = [], []
  for number, (batch_ids, images) in enumerate(collection.read_collection(
      spec, fmt, batch_size, skipped)):
    try:
      chunks.append(embedder.embed_image_bytes(
          images, batch_size=len(images), progress=False, names=batch_ids))
      ids.extend(batch_ids)
    except ValueError:
      # One bad image: embed this batch one by one, skipping failures.
      for item_id, image in zip(batch_ids, images):
        try:
          chunks.append(embedder.embed_image_bytes(
              [image], batch_size=1, progress=False, names=[item_id]))
          ids.append(item_id)
        except ValueError:
          skipped["decode_error"] += 1
          logging.warning("Skipped %s: cannot decode the image.", item_id)
    if progress and number % 100 == 0:
      logging.info("Embedded %d images (%d skipped).", len(ids),
                   collection.skipped_total(skipped))
  if not ids:
    raise ValueError(f"No image of {spec} could be embedded (skipped: "
                     f"{dict(skipped)}).")
  return np.concatenate(chunks), ids, dict(skipped)


def build_index(embedder: embedder_lib.Embedder, spec: str,
                index_dir: Optional[str] = None, fmt: str = "auto",
                kind: str = "auto",
                scann_config: Optional[index_lib.ScannConfig] = None,
                model: Optional[Dict[str, str]] = None,
                batch_size: int = 64, overwrite: bool = False,
                progress: bool = False,
                storage: str = "float32") -> index_lib.SearchIndex:
  """Embeds a collection and indexes it; saves it if `index_dir` is given.

  Args:
    embedder: the model.
    spec: the collection (see `embed_collection`).
    index_dir: where to save the index (atomically); None: not saved.
    fmt: collection format.
    kind: "auto", "scann" or "brute_force".
    scann_config: ScaNN settings (default `ScannConfig()`, gin-bindable).
    model: how to find the model again, e.g. {"hub_dir": ...} or
      {"model_dir": ..., "checkpoint": ...}; stored in the manifest (the
      search CLI loads it only with --use_index_model).
    batch_size: images per encoder call.
    overwrite: replace an existing index_dir.
    progress: log progress.
    storage: "float32" or "int8" rows (`index.STORAGES`).

  Returns:
    The `SearchIndex`.
  """
  if index_dir and os.path.exists(index_dir) and not overwrite:
    # Before minutes of embedding.
    raise FileExistsError(f"{index_dir} already exists (pass overwrite).")
  embeddings, ids, skipped = embed_collection(embedder, spec, fmt, batch_size,
                                              progress)
  model = dict(model or {})
  metadata = {
      "model": model.get("hub_dir") or model.get("model_dir") or (
          embedder.source),
      "model_source": model,
      "collection": spec,
      "skipped": skipped,
  }
  index = index_lib.SearchIndex.build(embeddings, ids, kind=kind,
                                      scann_config=scann_config,
                                      metadata=metadata, storage=storage)
  if index_dir:
    index.save(index_dir, overwrite=overwrite)
  logging.info("Indexed %d images (%s, %d-d), skipped %s.", len(index),
               index.kind, index.embed_dim, skipped)
  return index


def check_compatible(index: sharded_index.AnyIndex,
                     embedder: embedder_lib.Embedder) -> None:
  """Raises ValueError if `embedder`'s embedding size differs from `index`'s."""
  if embedder.embed_dim != index.embed_dim:
    raise ValueError(
        f"The index holds {index.embed_dim}-d embeddings (built with "
        f"{index.metadata.get('model', 'an unknown model')}) but "
        f"{embedder.source or 'the model'} embeds to {embedder.embed_dim}-d; "
        "search with the model the index was built with, or rebuild it.")


def load_index(index_dir: str,
               embedder: Optional[embedder_lib.Embedder] = None
               ) -> sharded_index.AnyIndex:
  """`SearchIndex.load` or `ShardedIndex.load` (by the manifest's kind),
  checked against `embedder` if given."""
  index = sharded_index.load_index(index_dir)
  if embedder is not None:
    check_compatible(index, embedder)
  return index


def embed_query(embedder: embedder_lib.Embedder, text: Optional[str] = None,
                image: Optional[str] = None,
                image_weight: float = DEFAULT_IMAGE_WEIGHT,
                text_weight: float = DEFAULT_TEXT_WEIGHT) -> np.ndarray:
  """float32 [dim] unit query from a text, an image file, or both.

  Args:
    embedder: the model.
    text: query text (non-empty), or None.
    image: path of a query image file, or None.
    image_weight: weight of the image embedding (negative subtracts).
    text_weight: weight of the text embedding (negative subtracts).

  Raises:
    ValueError: no text and no image, empty text, zero weighted sum, or an
      undecodable image.
    FileNotFoundError: the image file does not exist.
  """
  if text is None and image is None:
    raise ValueError("A query needs a text, an image, or both.")
  if text is not None and not text.strip():
    raise ValueError("The query text is empty; give some words (or only an "
                     "image).")
  text_emb = image_emb = None
  if text is not None:
    text_emb = embedder.embed_texts([text])[0]
  if image is not None:
    if not tf.io.gfile.exists(image) or tf.io.gfile.isdir(image):
      raise FileNotFoundError(f"Query image not found: {image}")
    image_emb = embedder.embed_image_bytes(
        [image_files.read_image_file(image)], names=[image])[0]
  if image_emb is not None and text_emb is not None and (
      image_weight == 0 and text_weight == 0):
    raise ValueError("image_weight and text_weight are both 0.")
  return queries.combine_queries(image_emb, text_emb, image_weight,
                                   text_weight)


def search(index: sharded_index.AnyIndex, embedder: embedder_lib.Embedder,
           text: Optional[str] = None, image: Optional[str] = None,
           image_weight: float = DEFAULT_IMAGE_WEIGHT,
           text_weight: float = DEFAULT_TEXT_WEIGHT, top_k: int = 10,
           exact: bool = False) -> List[Tuple[str, float]]:
  """[(id, cosine score), ...] best first for one query (see `embed_query`)."""
  check_compatible(index, embedder)
  query = embed_query(embedder, text, image, image_weight, text_weight)
  return index.search(query, top_k=top_k, exact=exact)[0]
