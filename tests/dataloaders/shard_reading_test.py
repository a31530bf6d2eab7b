"""Tests of shard_reading: which records each input pipeline reads, in order."""
import collections

import pytest
import tensorflow as tf

from official.align.dataloaders import shard_reading
from official.align.dataloaders import skip_counts

RECORDS_PER_FILE = 3


def _records_of(name):
  """Stand-in for TFRecordDataset: `name:0`, `name:1`, ... (no files)."""
  return tf.data.Dataset.range(RECORDS_PER_FILE).map(
      lambda i: tf.strings.join([name, ":", tf.strings.as_string(i)]))


def _expected(name):
  return [f"{name}:{i}" for i in range(RECORDS_PER_FILE)]


def _read(files, input_context=None, take=None, read_fn=_records_of, **kw):
  args = dict(is_training=False, repeat=False, shuffle_buffer_size=100,
              cycle_length=2, deterministic=True, seed=7)
  args.update(kw)
  ds = shard_reading.read_sharded_records(files, read_fn, input_context,
                                          **args)
  if take is not None:
    ds = ds.take(take)
  return [r.decode() for r in ds.as_numpy_iterator()]


def _context(num_pipelines, pipeline_id):
  return tf.distribute.InputContext(num_input_pipelines=num_pipelines,
                                    input_pipeline_id=pipeline_id,
                                    num_replicas_in_sync=num_pipelines)


def test_pipeline_shard():
  assert shard_reading.pipeline_shard(None) == (1, 0)
  assert shard_reading.pipeline_shard(_context(4, 3)) == (4, 3)


def test_one_pipeline_interleaves_files_in_order():
  files = ["a", "b", "c"]
  a, b, c = (_expected(f) for f in files)
  # cycle_length=2: one record of a, then of b, ...; c once a is done.
  assert _read(files) == [a[0], b[0], a[1], b[1], a[2], b[2]] + c
  assert _read(files, cycle_length=1) == a + b + c


def test_more_files_than_pipelines_splits_the_files():
  files = ["f0", "f1", "f2", "f3", "f4"]
  per_pipeline = [_read(files, _context(2, i), cycle_length=1)
                  for i in range(2)]
  assert per_pipeline[0] == _expected("f0") + _expected("f2") + _expected(
      "f4")
  assert per_pipeline[1] == _expected("f1") + _expected("f3")


def test_fewer_files_than_pipelines_splits_the_records():
  files = ["a", "b"]
  everything = _read(files)
  per_pipeline = [_read(files, _context(4, i)) for i in range(4)]
  for i, records in enumerate(per_pipeline):
    assert records == everything[i::4]


def test_training_shuffles_reproducibly_and_repeats():
  files = [f"f{i}" for i in range(6)]
  every = sorted(r for f in files for r in _expected(f))
  n = len(every)
  one_epoch = _read(files, is_training=True, shuffle_buffer_size=n)
  assert sorted(one_epoch) == every
  assert one_epoch != _read(files)  # Shuffled.
  assert one_epoch == _read(files, is_training=True, shuffle_buffer_size=n)
  assert one_epoch != _read(files, is_training=True, shuffle_buffer_size=n,
                            seed=8)
  # Records unshuffled (buffer 1), files read one at a time: each epoch
  # is a new order of whole files.
  two_epochs = _read(files, is_training=True, repeat=True,
                     shuffle_buffer_size=1, cycle_length=1, take=2 * n)
  first, second = two_epochs[:n], two_epochs[n:]
  assert sorted(first) == sorted(second) == every
  file_order = [r.split(":")[0] for r in first[::RECORDS_PER_FILE]]
  assert first == [r for f in file_order for r in _expected(f)]
  assert first != second  # Reshuffled each epoch.
  assert _read(files, repeat=True, take=3 * n).count(every[0]) == 3


def test_reads_tfrecord_files(tmp_path):
  paths = []
  for name in ("x", "y"):
    path = str(tmp_path / f"{name}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for record in _expected(name):
        writer.write(record.encode())
    paths.append(path)
  records = _read(paths, read_fn=tf.data.TFRecordDataset, cycle_length=1,
                  deterministic=False)
  assert collections.Counter(records) == collections.Counter(
      _expected("x") + _expected("y"))


def test_no_files_is_an_error():
  with pytest.raises(ValueError, match="at least one file"):
    _read([])


def test_pass_end_marker_follows_each_pass():
  files = ["a", "b"]
  marked = shard_reading.read_sharded_records(
      files, _records_of, is_training=False, repeat=True,
      shuffle_buffer_size=1, cycle_length=1, deterministic=True, seed=0,
      pass_end_marker=tf.constant("END"))
  got = [r.decode() for r in marked.take(2 * (2 * RECORDS_PER_FILE + 1))
         .as_numpy_iterator()]
  one_pass = _expected("a") + _expected("b") + ["END"]
  assert got == one_pass * 2


def test_shard_reader_and_format_detection():
  assert shard_reading.detect_shard_format(["a/x.tar", "b/y.TAR.GZ"]) == (
      "webdataset")
  assert shard_reading.detect_shard_format(["x.tar", "y.tfrecord"]) == (
      "tfrecord")
  for fmt in shard_reading.SHARD_FORMATS:
    reader = shard_reading.shard_reader(fmt)
    raw = reader.read(tf.constant(f"missing.{fmt}"))
    assert tf.nest.map_structure(lambda s: s.dtype, raw.element_spec) == (
        tf.nest.map_structure(lambda t: t.dtype, reader.pass_end))
    record, reason, detail, count = reader.interpret(reader.pass_end)
    assert (record.numpy(), int(reason), detail.numpy(), int(count)) == (
        b"", skip_counts.END_OF_PASS, b"", 0)
  with pytest.raises(ValueError, match="shard_format_name must be in"):
    shard_reading.shard_reader("parquet")
