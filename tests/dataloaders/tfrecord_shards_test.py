"""Tests of tfrecord_shards: TFRecord shards read past framing damage.

Shards are written by `tf.io.TFRecordWriter`; damage is a flipped byte (in a
payload, a data CRC, a length, a length CRC), a cut, or a deleted file. Each
case is checked against the records written: every record is read or counted,
once.
"""
import os

import pytest
import tensorflow as tf

from official.align.dataloaders import skip_counts
from official.align.dataloaders import tfrecord_shards

RECORDS = [(b"record-%d-" % i) * (10 + i) for i in range(6)]
OFFSETS = [sum(16 + len(r) for r in RECORDS[:i]) for i in range(6)]
CORRUPT = skip_counts.reason_index("corrupt_record")
UNREADABLE = skip_counts.reason_index("unreadable_shard")


def _flip(data, *positions):
  data = bytearray(data)
  for position in positions:
    data[position] ^= 0x40
  return bytes(data)


def _payload(i):
  return OFFSETS[i] + 12 + 5


# name -> (damage applied to the intact shard, expected elements: a record
# index, or a reason index for a marker).
CASES = {
    "intact": (lambda d: d, [0, 1, 2, 3, 4, 5]),
    "payload_2": (lambda d: _flip(d, _payload(2)),
                  [0, 1, ("skip", CORRUPT), 3, 4, 5]),
    "payload_0_and_last": (lambda d: _flip(d, _payload(0), _payload(5)),
                           [("skip", CORRUPT), 1, 2, 3, 4,
                            ("skip", CORRUPT)]),
    "data_crc_3": (lambda d: _flip(d, OFFSETS[4] - 2),
                   [0, 1, 2, ("skip", CORRUPT), 4, 5]),
    "length_3": (lambda d: _flip(d, OFFSETS[3] + 1),
                 [0, 1, 2, ("skip", UNREADABLE)]),
    "length_crc_3": (lambda d: _flip(d, OFFSETS[3] + 9),
                     [0, 1, 2, ("skip", UNREADABLE)]),
    "cut_in_payload_4": (lambda d: d[:OFFSETS[4] + 30],
                         [0, 1, 2, 3, ("skip", CORRUPT)]),
    # More damaged records than resyncs: the rest is one unreadable shard.
    "every_payload": (
        lambda d: _flip(d, *[_payload(i) for i in range(6)]),
        [("skip", CORRUPT)] * tfrecord_shards.MAX_RESYNCS +
        [("skip", UNREADABLE)]),
    "empty": (lambda d: b"", []),
    "glob [*?] chars": (lambda d: d, [0, 1, 2, 3, 4, 5]),
}


def _read_all(files):
  """{file: [record index or ("skip", reason)]}, one dataset for all."""
  ds = tf.data.Dataset.from_tensor_slices(files).flat_map(
      lambda f: tfrecord_shards.read_tfrecord_shard(f).map(
          lambda record, reason, detail: (f, record, reason, detail)))
  out = {f: [] for f in files}
  for f, record, reason, detail in ds.as_numpy_iterator():
    f = f.decode()
    if reason == skip_counts.NOT_SKIPPED:
      assert detail == b""
      out[f].append(RECORDS.index(record))
    else:
      assert record == b"" and detail.decode().startswith(f + ": ")
      out[f].append(("skip", int(reason)))
  return out


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("shards") / "intact.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for record in RECORDS:
      writer.write(record)
  with open(path, "rb") as f:
    return f.read()


def test_damage_is_skipped_and_counted_exactly(intact, tmp_path, capfd):
  files = {}
  for name, (damage, _) in CASES.items():
    files[name] = str(tmp_path / f"{name}.tfrecord")
    with open(files[name], "wb") as f:
      f.write(damage(intact))
  files["vanished"] = str(tmp_path / "vanished.tfrecord")
  read = _read_all(list(files.values()))
  for name, (_, expected) in CASES.items():
    assert read[files[name]] == expected, name
  assert read[files["vanished"]] == [("skip", UNREADABLE)]
  # Each marker is printed with its shard and byte offset.
  err = capfd.readouterr().err
  assert (f"{files['payload_2']}: damaged record at byte {OFFSETS[2]}; "
          "reading resumes after it") in err
  assert f"{files['vanished']}: cannot be opened (no such file)" in err
  assert (f"{files['length_3']}: damaged record header at byte "
          f"{OFFSETS[3]}; the rest of the shard is skipped") in err


def test_iterator_checkpoint_inside_a_resynced_shard(intact, tmp_path):
  path = str(tmp_path / "damaged.tfrecord")
  with open(path, "wb") as f:
    f.write(_flip(intact, _payload(1)))
  ds = tf.data.Dataset.from_tensors(path).flat_map(
      tfrecord_shards.read_tfrecord_shard).map(
          lambda record, reason, detail: (record, reason))
  iterator = iter(ds)
  first = [next(iterator) for _ in range(3)]  # 0, marker, 2.
  assert [int(r) for _, r in first] == [-1, CORRUPT, -1]
  checkpoint = tf.train.Checkpoint(iterator=iterator)
  saved = checkpoint.save(str(tmp_path / "ckpt"))
  rest = [r.numpy() for r, _ in iterator]
  checkpoint.restore(saved)
  assert [r.numpy() for r, _ in iterator] == rest == RECORDS[3:]
