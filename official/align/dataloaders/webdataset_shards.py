# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Reads one webdataset tar shard into records, counting what cannot be read.

`read_webdataset_tar(path)` yields `(record, reason, detail, count)` like
`tfrecord_shards.read_tfrecord_shard`: a serialized `tf.train.Example` per
sample (`shard_format` layout) with `reason` `skip_counts.NOT_SKIPPED` and
count 1, or an in-band marker ("", index of a `skip_counts.SKIP_REASONS`
entry, the shard path and what happened, 1) that the reader counts like any
skipped record.

Members `{key}.jpg` (or another image extension), `{key}.txt` (and any
others, such as img2dataset's `{key}.json`, which are not read) with the same
key form one sample; a missing member becomes a missing feature. Members may
come in any order within a sample, as webdataset's `TarWriter` writes them;
gzip-compressed tars (`.tar.gz`) are read too.

Hostile and damaged tars:

* A member above `max_member_bytes`, or a sparse member (a few KB on disk
  that expand to gigabytes), is never extracted: its sample is one
  `record_too_large`.
* Damage (a tar cut short, a corrupt header or gzip stream) ends the shard:
  one `unreadable_shard`, the path and error printed; the samples before it
  are kept.
* A shard that cannot be opened (deleted after listing, no permission) is
  one `unreadable_shard`.
* A storage error (an `OSError` or TensorFlow I/O error that is not damage)
  is retried: the shard is reopened and read on from the next sample, up to
  `STORAGE_ATTEMPTS` times. If it persists, a `FATAL` marker makes the
  reader stop with an error naming the shard: a storage outage is never
  taken for the end of a shard.
"""
import gzip
import os
import sys
import tarfile
import time
import zlib
from typing import Iterator, Optional, Tuple

import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.dataloaders import skip_counts

# Default cap on one tar member: 64 MB, far above any real image or caption.
DEFAULT_MAX_MEMBER_BYTES = 64 * 2**20
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp")
# In-band reason of a marker after which reading must stop with an error.
FATAL = -3
STORAGE_ATTEMPTS = 3
STORAGE_RETRY_SECONDS = (1.0, 5.0)

Element = Tuple[bytes, int, bytes, int]

_UNREADABLE_SHARD = skip_counts.reason_index("unreadable_shard")
_RECORD_TOO_LARGE = skip_counts.reason_index("record_too_large")
# Errors that mean the bytes are damaged (reading again will not help).
_DAMAGE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile,
           tf.errors.DataLossError)
# Errors that mean the shard is not there (or not ours to read).
_UNAVAILABLE = (tf.errors.NotFoundError, tf.errors.PermissionDeniedError,
                FileNotFoundError, PermissionError)


def _marker(reason: int, path: str, what: str) -> Element:
  detail = f"{path}: {what}"
  name = (skip_counts.SKIP_REASONS[reason] if reason >= 0 else
          "a fatal error")
  print(f"Skipped: {detail} (counted as {name})", file=sys.stderr,
        flush=True)
  return b"", reason, detail.encode("utf-8", "replace"), 1


def _samples(path: str, max_member_bytes: int, skip: int,
             keys: shard_format.FeatureKeys) -> Iterator[Element]:
  """The elements of the samples of a tar, after its first `skip` samples."""
  number = 0

  def emit(key, parts, oversized):
    nonlocal number
    number += 1
    if number <= skip:
      return None
    if oversized:
      return _marker(_RECORD_TOO_LARGE, path,
                     f"sample {key!r}: {oversized}")
    image = next((parts[ext] for ext in IMAGE_EXTENSIONS if ext in parts),
                 None)
    record = shard_format.make_example(key, image, parts.get("txt"),
                                       keys=keys).SerializeToString()
    return record, skip_counts.NOT_SKIPPED, b"", 1

  with tf.io.gfile.GFile(path, "rb") as f:
    with tarfile.open(fileobj=f, mode="r|*") as tar:
      current_key, parts, oversized = None, {}, ""
      for member in tar:
        if not member.isfile():
          continue
        dirname, basename = os.path.split(member.name)
        if "." not in basename:
          continue
        stem, ext = basename.split(".", 1)
        key = os.path.join(dirname, stem)
        if key != current_key and current_key is not None:
          element = emit(current_key, parts, oversized)
          if element is not None:
            yield element
          parts, oversized = {}, ""
        current_key = key
        if member.issparse() or member.size > max_member_bytes:
          # Never extracted: stream mode skips its data on disk.
          oversized = oversized or (
              f"member {member.name!r} is sparse ({member.size} bytes "
              "expanded)" if member.issparse() else
              f"member {member.name!r} has {member.size} bytes, above "
              f"max_member_bytes = {max_member_bytes}")
          continue
        if not oversized:
          parts[ext.lower()] = tar.extractfile(member).read()
      # A proper tar ends with zero blocks. A tar cut short or with a
      # damaged header ends the member loop just as quietly: tell them apart
      # (the pending sample may be incomplete, so it goes with the damage).
      tail = tar.fileobj.read(tarfile.BLOCKSIZE)
      if current_key is not None:
        element = emit(current_key, parts, oversized)
        if element is not None:
          yield element
      if len(tail) < tarfile.BLOCKSIZE or tail.strip(b"\0"):
        raise tarfile.ReadError(
            "no end-of-archive marker after the last member (cut short, or "
            "a damaged member header)")


def read_webdataset_tar(path, keys: shard_format.FeatureKeys = (
    shard_format.DEFAULT_KEYS), max_member_bytes: int = (
        DEFAULT_MAX_MEMBER_BYTES)) -> Iterator[Element]:
  """Yields `(record, reason, detail, count)` of one tar (module docstring).

  Args:
    path: the tar file (any `tf.io.gfile` path); bytes or str.
    keys: feature names of the records produced.
    max_member_bytes: members above this many bytes are not read.

  Yields:
    (bytes, int, bytes, int).
  """
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  done = 0  # Samples yielded (counted markers included).
  error: Optional[Exception] = None
  for attempt in range(STORAGE_ATTEMPTS):
    if attempt:
      time.sleep(STORAGE_RETRY_SECONDS[min(attempt, 
                                           len(STORAGE_RETRY_SECONDS)) - 1])
    try:
      for element in _samples(path, max_member_bytes, done, keys):
        done += 1
        yield element
      return
    except _UNAVAILABLE as e:
      yield _marker(_UNREADABLE_SHARD, path,
                    f"cannot be read ({type(e).__name__}: {_message(e)})")
      return
    except _DAMAGE as e:
      yield _marker(_UNREADABLE_SHARD, path,
                    f"damaged after {done} samples ({type(e).__name__}: "
                    f"{_message(e)}); the rest of the shard is skipped")
      return
    except (OSError, tf.errors.OpError) as e:  # Storage: try again.
      error = e
  yield _marker(FATAL, path,
                f"storage error after {STORAGE_ATTEMPTS} attempts "
                f"({type(error).__name__}: {_message(error)})")


def _message(error: Exception) -> str:
  if isinstance(error, tf.errors.OpError):
    return error.message.splitlines()[0][:200]
  return str(error).splitlines()[0][:200] if str(error) else ""
