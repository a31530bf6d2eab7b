# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""This input pipeline's share of the records of a set of shard files.

The file-level part of the ALIGN and transfer readers (`input_reader`,
`transfer.classification_input`):

  ds = shard_reading.read_sharded_records(
      files, tf.data.TFRecordDataset, input_context, is_training=True,
      repeat=True, shuffle_buffer_size=10_000, cycle_length=8,
      deterministic=False, seed=seed)

* With at least as many files as input pipelines, each pipeline reads a
  disjoint subset of the files; with fewer, every pipeline reads all of
  them and keeps every `num_input_pipelines`-th record.
* Training shuffles the file order (seed `seed`, every epoch) and the
  records (a buffer of `shuffle_buffer_size`, seed `seed + 1`).
* `cycle_length` files are read at once (`interleave`, one record from each
  in turn); `deterministic=False` lets a faster file go first.
* Repeating repeats whole passes: each pass reads every file once, its record
  shuffle buffer drains at the pass's end, and with `pass_end_marker` that
  element follows each pass (so a reader can tell "this pass is over" from
  "no record has come yet").
"""
import dataclasses
import os
from typing import Callable, Optional, Sequence, Tuple

import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.dataloaders import skip_counts
from official.align.dataloaders import tfrecord_shards
from official.align.dataloaders import webdataset_shards

# tf.string [] file name → dataset of its records (e.g. tf.string [], or a
# `ShardReader`'s raw elements).
ReadFn = Callable[[tf.Tensor], tf.data.Dataset]
SHARD_FORMATS = ("tfrecord", "webdataset")


def detect_shard_format(files: Sequence[str]) -> str:
  """"webdataset" if every file is a .tar or .tar.gz, else "tfrecord"."""
  names = [os.path.basename(f).lower() for f in files]
  if names and all(n.endswith((".tar", ".tar.gz", ".tgz")) for n in names):
    return "webdataset"
  return "tfrecord"


@dataclasses.dataclass(frozen=True)
class ShardReader:
  """How to read shards of one format, damage included.

  Attributes:
    read: `ReadFn`, file name → its raw elements (for
      `read_sharded_records`).
    interpret: raw element → `(record, reason, detail, count)` scalars
      (string, int32, string, int64), in-graph, for the consumer's
      per-record `map`: a record is (record, NOT_SKIPPED, "", 1); a marker
      counts `count` records under SKIP_REASONS[reason]
      (`tfrecord_shards.LOST_PENDING` and `MISSING_PENDING` until
      `tfrecord_shards.resolve_lost`; `webdataset_shards.FATAL`: stop).
    pass_end: the raw element to put after each pass (it interprets as
      reason `skip_counts.END_OF_PASS`).
  """
  read: ReadFn
  interpret: Callable
  pass_end: object


def shard_reader(
    shard_format_name: str,
    keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
    max_member_bytes: int = webdataset_shards.DEFAULT_MAX_MEMBER_BYTES
) -> ShardReader:
  """The damage-tolerant `ShardReader` of a shard format.

  TFRecord: `tfrecord_shards` (in-graph). Webdataset: a Python generator
  (`webdataset_shards.read_webdataset_tar`), whose iterator cannot go into a
  checkpoint.

  Args:
    shard_format_name: one of SHARD_FORMATS.
    keys: feature names of the records a webdataset reader makes.
    max_member_bytes: webdataset members above this are never read.
  """
  if shard_format_name not in SHARD_FORMATS:
    raise ValueError(f"shard_format_name must be in {SHARD_FORMATS}, got "
                     f"{shard_format_name!r}.")
  if shard_format_name == "tfrecord":
    return ShardReader(tfrecord_shards.read_tfrecord_shard,
                       tfrecord_shards.interpret,
                       tfrecord_shards.PASS_END_ELEMENT)

  def read(filename):
    return tf.data.Dataset.from_generator(
        lambda f: webdataset_shards.read_webdataset_tar(
            f, keys, max_member_bytes),
        output_signature=(tf.TensorSpec([], tf.string),
                          tf.TensorSpec([], tf.int32),
                          tf.TensorSpec([], tf.string),
                          tf.TensorSpec([], tf.int64)),
        args=(filename,))

  return ShardReader(
      read, lambda element: element,
      (tf.constant(b""), tf.constant(skip_counts.END_OF_PASS),
       tf.constant(b""), tf.constant(0, tf.int64)))


def pipeline_shard(
    input_context: Optional[tf.distribute.InputContext] = None
) -> Tuple[int, int]:
  """(num_input_pipelines, input_pipeline_id); (1, 0) without a context."""
  if input_context is None:
    return 1, 0
  return input_context.num_input_pipelines, input_context.input_pipeline_id


def read_sharded_records(
    files: Sequence[str],
    read_fn: ReadFn,
    input_context: Optional[tf.distribute.InputContext] = None,
    *,
    is_training: bool,
    repeat: bool,
    shuffle_buffer_size: int,
    cycle_length: int,
    deterministic: bool,
    seed: int,
    pass_end_marker=None) -> tf.data.Dataset:
  """The serialized records of this input pipeline (module docstring).

  Args:
    files: the shard files, all pipelines' (e.g. `input_reader.list_shards`).
    read_fn: file name → its records (e.g. `tf.data.TFRecordDataset`).
    input_context: this pipeline's `tf.distribute.InputContext`; None: the
      only pipeline.
    is_training: shuffle files and records.
    repeat: repeat the files forever.
    shuffle_buffer_size: records in the shuffle buffer (training).
    cycle_length: files read concurrently.
    deterministic: ordered interleave.
    seed: file shuffle seed (`seed + 1` for the records).
    pass_end_marker: an element (of `read_fn`'s structure) to follow each
      pass, or None.

  Returns:
    A dataset of whatever `read_fn` yields (e.g. tf.string [] records), with
    `pass_end_marker` after each pass.

  Raises:
    ValueError: `files` is empty.
  """
  files = list(files)
  if not files:
    raise ValueError("read_sharded_records needs at least one file.")
  num_pipelines, pipeline_id = pipeline_shard(input_context)
  shard_files = len(files) >= num_pipelines
  filenames = tf.data.Dataset.from_tensor_slices(files)
  if shard_files and num_pipelines > 1:
    filenames = filenames.shard(num_pipelines, pipeline_id)
  if is_training:
    filenames = filenames.shuffle(len(files), seed=seed,
                                  reshuffle_each_iteration=True)
  ds = filenames.interleave(
      read_fn, cycle_length=cycle_length, block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if not shard_files:
    # Fewer files than pipelines: every pipeline reads all, keeps its part.
    ds = ds.shard(num_pipelines, pipeline_id)
  if is_training:
    ds = ds.shuffle(shuffle_buffer_size, seed=seed + 1,
                    reshuffle_each_iteration=True)
  if pass_end_marker is not None:
    ds = ds.concatenate(tf.data.Dataset.from_tensors(pass_end_marker))
  if repeat:
    ds = ds.repeat()
  return ds
