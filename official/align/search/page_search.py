# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The search page's queries: parsed, checked, embedded and answered.

The HTTP-free core of `server` (python -m official.align.search serve). A
query is a text, an image (uploaded bytes, or `image_id`: an item of the
index, as when a result is clicked), or both, with weights:

  page = page_search.SearchPage(open_index("runs/demo/index"), embedder,
                                items.ItemStore.from_collection(...))
  query = page_search.parse_query({"text": "a blue circle", "top_k": "8"})
  page.search(query)  # {"results": [{"rank", "id", "score", "caption"}...]}

The query embedding is `search_lib.embed_query`'s: each part L2-normalised,
weighted (a negative weight subtracts), summed and re-normalised
(`queries.combine_queries`), so the page answers what `search_lib.search`
answers for the same text, image file and weights.

Bad input raises `QueryError` with an HTTP status and a one-line message:
an empty query, a non-image (415) or undecodable (400) upload, `top_k` or a
weight out of range, an unknown `image_id`. The upload size limit is the
server's (`SearchPageConfig.max_upload_bytes`).
"""
import dataclasses
import math
import time
from typing import Any, Dict, Mapping, Optional

import gin
import numpy as np

from official.align.dataloaders import image_headers
from official.align.inference import embedder as embedder_lib
from official.align.inference import queries
from official.align.search import sharded_index
from official.align.search import items as items_lib
from official.align.search import search_lib

IMAGE_MAGICS = (image_headers.JPEG_MAGIC, image_headers.PNG_MAGIC,
                image_headers.GIF_MAGIC, image_headers.BMP_MAGIC)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SearchPageConfig:
  """Limits and defaults of the search page.

  Attributes:
    max_upload_bytes: largest request body (an uploaded image) in bytes;
      larger ones get 413.
    max_top_k: most results per query (`top_k` in 1..max_top_k).
    default_top_k: results per query when `top_k` is not given.
    max_text_chars: longest query text.
    thumbnail_size: longest side of a result thumbnail in pixels.
    threads: requests served at once (Waitress worker threads).
  """
  max_upload_bytes: int = 10 * 1024 * 1024
  max_top_k: int = 100
  default_top_k: int = 24
  max_text_chars: int = 500
  thumbnail_size: int = 128
  threads: int = 8


class QueryError(ValueError):
  """A query the page cannot answer: a one-line message and an HTTP status."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass(frozen=True)
class Query:
  """One checked query (see `parse_query`).

  Attributes:
    text: query text, or None.
    image: encoded uploaded image (JPEG/PNG/GIF/BMP), or None.
    image_id: id of an indexed item whose embedding is the image part, or
      None (never together with `image`).
    image_weight: weight of the image embedding (negative subtracts).
    text_weight: weight of the text embedding (negative subtracts).
    top_k: results wanted.
  """
  text: Optional[str] = None
  image: Optional[bytes] = None
  image_id: Optional[str] = None
  image_weight: float = search_lib.DEFAULT_IMAGE_WEIGHT
  text_weight: float = search_lib.DEFAULT_TEXT_WEIGHT
  top_k: int = SearchPageConfig.default_top_k


def open_index(index_dir: str) -> sharded_index.AnyIndex:
  """The index the page serves, one or sharded (loaded and checked:
  `search_lib.load_index`).

  The one place the page opens an index. The page uses `len(index)`, `ids` (list of str), `embeddings` (rows
  by position, for `image_id` queries), `embed_dim`, `kind`, `metadata`
  and `search(query, top_k)` → [[(id, cosine score), ...]].
  """
  return search_lib.load_index(index_dir)


def _number(fields: Mapping[str, str], name: str, default: float) -> float:
  value = fields.get(name)
  if value is None or value == "":
    return default
  try:
    number = float(value)
  except ValueError:
    number = math.nan
  if not math.isfinite(number):
    raise QueryError(f"{name} must be a finite number, got {value!r}.")
  return number


def _top_k(fields: Mapping[str, str], config: SearchPageConfig) -> int:
  value = fields.get("top_k")
  if value is None or value == "":
    return config.default_top_k
  try:
    top_k = int(value)
  except ValueError:
    top_k = 0
  if not 1 <= top_k <= config.max_top_k:
    raise QueryError(f"top_k must be an integer from 1 to "
                     f"{config.max_top_k}, got {value!r}.")
  return top_k


def parse_query(fields: Mapping[str, str], image: Optional[bytes] = None,
                config: SearchPageConfig = SearchPageConfig()) -> Query:
  """A `Query` from request fields (strings) and an uploaded image.

  Args:
    fields: `text`, `image_id`, `image_weight`, `text_weight`, `top_k`
      (all optional; an empty string counts as absent, and so does a text of
      only spaces next to an image).
    image: the uploaded image's bytes, or None.
    config: limits and defaults.

  Returns:
    The checked `Query`.

  Raises:
    QueryError: see the module doc.
  """
  text = fields.get("text")
  if text is not None and len(text) > config.max_text_chars:
    raise QueryError(f"The text is {len(text)} characters long; the limit is "
                     f"{config.max_text_chars}.")
  text = text if text and text.strip() else None
  image_id = fields.get("image_id") or None
  if image is not None and image_id is not None:
    raise QueryError("Give an uploaded image or image_id, not both.")
  if text is None and image is None and image_id is None:
    raise QueryError("The query is empty: give a text, an image, or both.")
  if image is not None:
    if not image:
      raise QueryError("The uploaded image is empty (0 bytes).")
    if not image.startswith(IMAGE_MAGICS):
      raise QueryError("The upload is not an image: JPEG, PNG, GIF or BMP "
                       "expected.", status=415)
  return Query(text=text, image=image, image_id=image_id,
               image_weight=_number(fields, "image_weight",
                                    search_lib.DEFAULT_IMAGE_WEIGHT),
               text_weight=_number(fields, "text_weight",
                                   search_lib.DEFAULT_TEXT_WEIGHT),
               top_k=_top_k(fields, config))


class SearchPage:
  """Answers `Query`s on an index with a model (see the module doc)."""

  def __init__(self, index: sharded_index.AnyIndex,
               embedder: embedder_lib.Embedder,
               items: Optional[items_lib.ItemStore] = None,
               config: SearchPageConfig = SearchPageConfig()):
    """Checks that `embedder` embeds to the index's size.

    Args:
      index: from `open_index`.
      embedder: the model the index was built with.
      items: thumbnails and captions (default: none).
      config: limits and defaults.

    Raises:
      ValueError: the model's embedding size is not the index's.
    """
    search_lib.check_compatible(index, embedder)
    self._index = index
    self._embedder = embedder
    self._items = items or items_lib.ItemStore()
    self._config = config
    self._rows = {item_id: row for row, item_id in enumerate(index.ids)}

  @property
  def config(self) -> SearchPageConfig:
    return self._config

  def info(self) -> Dict[str, Any]:
    """What the page shows about the index, and its limits."""
    metadata = self._index.metadata
    return {
        "count": len(self._index),
        "kind": self._index.kind,
        "embed_dim": self._index.embed_dim,
        "model": metadata.get("model"),
        "collection": metadata.get("collection"),
        "items_with_images": len(self._items),
        "default_image_weight": search_lib.DEFAULT_IMAGE_WEIGHT,
        "default_text_weight": search_lib.DEFAULT_TEXT_WEIGHT,
        "default_top_k": self._config.default_top_k,
        "max_top_k": self._config.max_top_k,
        "max_upload_bytes": self._config.max_upload_bytes,
    }

  def query_embedding(self, query: Query) -> np.ndarray:
    """float32 [embed_dim] unit query vector.

    Raises:
      QueryError: undecodable image, unknown image_id, zero weighted sum.
    """
    text_emb = image_emb = None
    if query.text is not None:
      text_emb = self._embedder.embed_texts([query.text])[0]
    if query.image is not None:
      try:
        image_emb = self._embedder.embed_image_bytes(
            [query.image], names=["the uploaded image"])[0]
      except ValueError as e:
        raise QueryError("The uploaded image cannot be decoded (corrupt or "
                         "truncated).") from e
    elif query.image_id is not None:
      row = self._rows.get(query.image_id)
      if row is None:
        raise QueryError(f"image_id {query.image_id!r} is not an item of "
                         "this index.")
      image_emb = np.asarray(self._index.embeddings[row], np.float32)
    try:
      return queries.combine_queries(image_emb, text_emb,
                                     query.image_weight, query.text_weight)
    except ValueError as e:
      raise QueryError(str(e)) from e

  def search(self, query: Query) -> Dict[str, Any]:
    """The results of `query`, best first.

    Returns:
      {"results": [{"rank", "id", "score", "caption"}, ...], "count",
       "seconds"} (score: cosine similarity; caption may be None).
    """
    start = time.perf_counter()
    vector = self.query_embedding(query)
    hits = self._index.search(vector, top_k=query.top_k)[0]
    results = [{"rank": rank, "id": item_id, "score": round(score, 6),
                "caption": self._items.caption(item_id)}
               for rank, (item_id, score) in enumerate(hits, 1)]
    return {"results": results, "count": len(results),
            "seconds": round(time.perf_counter() - start, 4)}

  def thumbnail(self, item_id: str) -> Optional[bytes]:
    """JPEG thumbnail of an indexed item, or None."""
    if item_id not in self._rows:
      return None
    return self._items.thumbnail(item_id)
