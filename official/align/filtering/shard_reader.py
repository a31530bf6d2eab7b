# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Reading TFRecord shards on Apache Beam, one shard per element, by path.

Shared by the filter (`filter_graph`) and the word counts (`word_counts`).
Beam's `ReadFromTFRecord` fails the whole pipeline on a corrupt shard
without naming it; reading per file lets a bad shard be reported by path and
skipped: `ReadShardFn` emits the shard's records and, if its framing is
damaged (truncated, bad CRC, bad compression), a tagged `UNREADABLE` record
{path, error}; `drop_unreadable` then drops the records such a shard emitted
before the damage.
"""
import zlib

from official.align import extras  # pylint: disable=g-bad-import-order
beam = extras.require("apache_beam", "beam", "Reading shards on Beam")
from apache_beam.io import fileio  # pylint: disable=g-import-not-at-top
from apache_beam.io import tfrecordio  # pylint: disable=g-import-not-at-top
from apache_beam.io.filesystem import CompressionTypes  # pylint: disable=g-import-not-at-top
from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top

from official.align.filtering import rules

UNREADABLE = "unreadable"
MAX_ERROR_CHARS = 300
# A glob matching nothing is an error, not an empty corpus or eval set.
DISALLOW_EMPTY = fileio.EmptyMatchTreatment.DISALLOW


class ReadShardFn(beam.DoFn):
  """Reads one TFRecord shard: (record_id, path, record) per record.

  The record id is a hash of the shard's path and the record's position. A
  shard failing mid-way has emitted its first records already: they are
  dropped downstream by `drop_unreadable`.
  """

  def process(self, path):
    index = 0
    try:
      with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        # pylint: disable-next=protected-access
        while (record := tfrecordio._TFRecordUtil.read_record(f)) is not None:
          record_id = rules.content_hash(f"{path}\0{index}".encode("utf-8"))
          yield record_id, path, record
          index += 1
    except (ValueError, EOFError, zlib.error) as e:
      error = f"record {index}: {type(e).__name__}: {e}"[:MAX_ERROR_CHARS]
      yield beam.pvalue.TaggedOutput(UNREADABLE, {"path": path,
                                                  "error": error})


def drop_unreadable(element, unreadable):
  """`element` (record_id, path, record) unless its shard is `unreadable`."""
  record_id, path, record = element
  if all(shard["path"] != path for shard in unreadable):
    yield record_id, path, record


def delete_tree(directory: str) -> None:
  """Deletes the files under `directory` (object stores), then the directory."""
  pattern = FileSystems.join(directory, "**")
  files = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
  if files:
    FileSystems.delete(files)
  if FileSystems.exists(directory):
    FileSystems.delete([directory])
