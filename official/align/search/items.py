# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Thumbnails and captions of an index's items, looked up by item id.

The search page shows each result as a thumbnail with its caption, both from
the collection the index was built from (`collection`: image files or
img2dataset shards) and only for ids the index holds:

  * files:  the id is the file's path as `collection.list_collection` lists
            it; its thumbnail is made on first request (LRU-cached); its
            caption is img2dataset's `<name>.txt` beside the image, if any.
  * shards: one pass at start-up through `collection.iterate_items` makes
            every indexed item's thumbnail (a JPEG of a few KB, kept in
            memory); captions are the records' text feature (`txt`).

An id that the index does not hold, or whose item the collection does not
list, has no thumbnail: the lookup is an exact match against those ids, so a
request never names a path that is opened. Thumbnails are images decoded by
Pillow and re-encoded as JPEG (`max_side` pixels at most), never the
collection's bytes passed through.

  store = items.ItemStore.from_collection("shards/*.tfrecord", "auto",
                                          index.ids, max_side=128)
  store.thumbnail("000123")  # JPEG bytes, or None.
  store.caption("000123")    # "a blue circle on the left", or None.
"""
import functools
import io
import os
from typing import Dict, Iterable, Iterator, Optional, Tuple

from absl import logging
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.dataloaders import webdataset_shards
from official.align.search import collection

THUMBNAIL_CACHE_SIZE = 4096  # Thumbnails of image files kept (LRU).
_MAX_CAPTION_BYTES = 1000


def make_thumbnail(image: bytes, max_side: int) -> Optional[bytes]:
  """JPEG bytes of `image` shrunk to at most `max_side` pixels per side.

  Args:
    image: encoded image (any format Pillow reads).
    max_side: longest side of the thumbnail in pixels (never enlarged).

  Returns:
    The thumbnail, or None if Pillow cannot decode `image`.
  """
  try:
    with Image.open(io.BytesIO(image)) as picture:
      picture.draft("RGB", (max_side, max_side))  # JPEG: decode downscaled.
      rgb = picture.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85)
    return out.getvalue()
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
    return None


def _text(values) -> Optional[str]:
  if not values:
    return None
  return values[0][:_MAX_CAPTION_BYTES].decode("utf-8", "replace").strip()


def iterate_shard_captions(files: Iterable[str], fmt: str,
                           keys: shard_format.FeatureKeys = (
                               shard_format.DEFAULT_KEYS)
                           ) -> Iterator[Tuple[str, str]]:
  """(id, caption) of the records of img2dataset shards that have a caption.

  Ids are `collection`'s: the record's key, or `shard:record` without one.
  A shard that fails part way keeps the captions read before the failure.
  """
  for path in files:
    if fmt == "tfrecord":
      records = (r.numpy() for r in tf.data.TFRecordDataset(path))
    else:  # Markers (skipped samples) keep their number, as in `collection`.
      records = (record for record, *_ in
                 webdataset_shards.read_webdataset_tar(path, keys))
    try:
      for number, serialized in enumerate(records):
        if not serialized:  # A marker.
          continue
        try:
          feature = tf.train.Example.FromString(serialized).features.feature
        except Exception:  # pylint: disable=broad-except  (DecodeError)
          continue
        caption = _text(feature[keys.text].bytes_list.value
                        if keys.text in feature else None)
        key = _text(feature[keys.key].bytes_list.value
                    if keys.key in feature else None)
        if caption:
          yield key or f"{path}:{number}", caption
    except tf.errors.OpError as e:
      logging.warning("Captions of %s stop at a damaged record: %s", path,
                      e.message.splitlines()[0])


class ItemStore:
  """Thumbnails and captions by item id (see the module doc)."""

  def __init__(self, max_side: int = 128,
               files: Optional[Dict[str, str]] = None,
               thumbnails: Optional[Dict[str, bytes]] = None,
               captions: Optional[Dict[str, str]] = None):
    """Use `ItemStore.from_collection` (or `ItemStore()`: no items).

    Args:
      max_side: thumbnail size in pixels.
      files: id → image file, for a collection of image files.
      thumbnails: id → thumbnail made up front (shards).
      captions: id → caption.
    """
    self._max_side = max_side
    self._files = dict(files or {})
    self._thumbnails = dict(thumbnails or {})
    self._captions = dict(captions or {})
    self._file_thumbnail = functools.lru_cache(THUMBNAIL_CACHE_SIZE)(
        self._read_file_thumbnail)

  @classmethod
  def from_collection(cls, spec: Optional[str], fmt: str,
                      ids: Iterable[str], max_side: int = 128,
                      keys: shard_format.FeatureKeys = (
                          shard_format.DEFAULT_KEYS)) -> "ItemStore":
    """The items of collection `spec` whose id is one of `ids`.

    Args:
      spec: the collection (`collection.list_collection`); None: no items.
      fmt: one of `collection.COLLECTION_FORMATS`.
      ids: the index's ids.
      max_side: thumbnail size in pixels.
      keys: feature names of shard records.

    Returns:
      An `ItemStore`; empty (every lookup None, with a warning) if `spec`
      matches nothing.
    """
    if not spec:
      logging.warning("No collection given: results have no thumbnails.")
      return cls(max_side)
    try:
      files, fmt = collection.list_collection(spec, fmt)
    except ValueError as e:
      logging.warning("No thumbnails: %s", e)
      return cls(max_side)
    wanted = set(ids)
    if fmt == "files":
      return cls(max_side, files={f: f for f in files if f in wanted})
    thumbnails = {}
    skipped = collection.SkipCounter()
    for path in files:
      try:
        for item_id, image in collection.iterate_items([path], fmt, skipped,
                                                       keys):
          if item_id in wanted and item_id not in thumbnails:
            thumbnail = make_thumbnail(image, max_side)
            if thumbnail is not None:
              thumbnails[item_id] = thumbnail
      except tf.errors.OpError as e:
        logging.warning("Thumbnails of %s stop at a damaged record: %s",
                        path, e.message.splitlines()[0])
    captions = {i: c for i, c in iterate_shard_captions(files, fmt, keys)
                if i in wanted}
    logging.info("Thumbnails of %d of %d indexed items (%d KB), %d "
                 "captions, from %s.", len(thumbnails), len(wanted),
                 sum(map(len, thumbnails.values())) // 1024, len(captions),
                 spec)
    return cls(max_side, thumbnails=thumbnails, captions=captions)

  def __len__(self) -> int:
    """Items with an image (a thumbnail, or a file to make it from)."""
    return len(self._files) + len(self._thumbnails)

  def thumbnail(self, item_id: str) -> Optional[bytes]:
    """JPEG thumbnail of the item `item_id`, or None (unknown, undecodable)."""
    if item_id in self._thumbnails:
      return self._thumbnails[item_id]
    if item_id in self._files:
      return self._file_thumbnail(item_id)
    return None

  def caption(self, item_id: str) -> Optional[str]:
    """The item's caption, or None."""
    if item_id in self._captions:
      return self._captions[item_id]
    if item_id in self._files:
      return self._sidecar_caption(item_id)
    return None

  def _read_file_thumbnail(self, item_id: str) -> Optional[bytes]:
    path = self._files[item_id]
    try:
      with tf.io.gfile.GFile(path, "rb") as f:
        return make_thumbnail(f.read(), self._max_side)
    except (tf.errors.OpError, OSError):
      logging.warning("Cannot read %s for its thumbnail.", path)
      return None

  def _sidecar_caption(self, item_id: str) -> Optional[str]:
    """img2dataset's files layout: `000001.jpg` beside `000001.txt`."""
    path = os.path.splitext(self._files[item_id])[0] + ".txt"
    try:
      with tf.io.gfile.GFile(path, "rb") as f:
        return _text([f.read(_MAX_CAPTION_BYTES)]) or None
    except (tf.errors.OpError, OSError):
      return None
