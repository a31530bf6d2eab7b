"""Tests of tfrecord_shards: what framing damage loses is counted exactly.

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
UNREADABLE = skip_counts.reason_index("unreadable_shard")


def _flip(data, *positions):
  data = bytearray(data)
  for position in positions:
    data[position] ^= 0x40
  return bytes(data)


def _payload(i):
  return OFFSETS[i] + 12 + 5


def _lost(count):
  return ("lost", count)


# name -> (damage applied to the intact shard, expected elements: a record
# index, or ("lost", records the marker counts)).
CASES = {
    "intact": (lambda d: d, [0, 1, 2, 3, 4, 5]),
    # Records 2-5 lost, counted from the framing.
    "payload_2": (lambda d: _flip(d, _payload(2)), [0, 1, _lost(4)]),
    "payload_0_and_5": (lambda d: _flip(d, _payload(0), _payload(5)),
                        [_lost(6)]),
    "data_crc_3": (lambda d: _flip(d, OFFSETS[4] - 2), [0, 1, 2, _lost(3)]),
    # A damaged length (or its CRC): the framing is lost; what follows
    # counts as one record.
    "length_3": (lambda d: _flip(d, OFFSETS[3] + 1), [0, 1, 2, _lost(1)]),
    "length_crc_3": (lambda d: _flip(d, OFFSETS[3] + 9), [0, 1, 2, _lost(1)]),
    "cut_in_payload_4": (lambda d: d[:OFFSETS[4] + 30], [0, 1, 2, 3,
                                                         _lost(1)]),
    # Damaged at 2, cut in record 4's header: 2, 3 and the cut rest.
    "payload_2_cut_in_header_4": (
        lambda d: _flip(d, _payload(2))[:OFFSETS[4] + 5], [0, 1, _lost(3)]),
    "empty": (lambda d: b"", []),
    "glob [*?] chars": (lambda d: d, [0, 1, 2, 3, 4, 5]),
}


def _elements(files):
  """One dataset over all files, interpreted, each element tagged with its
  file."""
  return tf.data.Dataset.from_tensor_slices(files).flat_map(
      lambda f: tfrecord_shards.read_tfrecord_shard(f).map(
          lambda *raw: (f,) + tfrecord_shards.interpret(raw)))


def _read_all(files):
  """{file: [record index or ("lost", count)]}, {file: intact ends}."""
  out = {f: [] for f in files}
  ends = {f: 0 for f in files}
  for f, record, reason, detail, count in _elements(files).as_numpy_iterator():
    f = f.decode()
    if reason == skip_counts.NOT_SKIPPED:
      assert detail == b"" and count == 1
      out[f].append(RECORDS.index(record))
      continue
    reason, detail, count = (t.numpy()[0] for t in tfrecord_shards
                             .resolve_lost([reason], [detail], [count]))
    assert record == b"" and reason == UNREADABLE
    if count == 0:  # The marker that ends a shard read whole.
      assert detail == b""
      ends[f] += 1
    else:
      assert detail.decode().startswith(f + ": ")
      out[f].append(_lost(int(count)))
  return out, ends


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("shards") / "intact.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for record in RECORDS:
      writer.write(record)
  with open(path, "rb") as f:
    return f.read()


def test_damage_is_counted_exactly(intact, tmp_path, capfd):
  files = {}
  for name, (damage, _) in CASES.items():
    files[name] = str(tmp_path / f"{name}.tfrecord")
    with open(files[name], "wb") as f:
      f.write(damage(intact))
  files["vanished"] = str(tmp_path / "vanished.tfrecord")
  read, ends = _read_all(list(files.values()))
  for name, (_, expected) in CASES.items():
    assert read[files[name]] == expected, name
    assert ends[files[name]] == (not any(isinstance(e, tuple)
                                         for e in expected)), name
  assert read[files["vanished"]] == [_lost(1)]
  # Each loss is printed with its shard, where and how much.
  err = capfd.readouterr().err
  assert (f"{files['payload_2']}: damaged at byte {OFFSETS[2]} (4 records); "
          "the rest is skipped") in err
  assert f"{files['vanished']}: cannot be opened (no such file)" in err
  assert (f"{files['length_3']}: damaged at byte {OFFSETS[3]} (1 records, "
          "framing lost); the rest is skipped") in err


def test_iterator_checkpoint_on_a_damaged_shard(intact, tmp_path):
  path = str(tmp_path / "damaged.tfrecord")
  with open(path, "wb") as f:
    f.write(_flip(intact, _payload(2)))
  ds = tfrecord_shards.read_tfrecord_shard(tf.constant(path)).map(
      lambda *raw: tfrecord_shards.interpret(raw)).batch(2).map(
          lambda record, reason, detail, count: (
              record,) + tfrecord_shards.resolve_lost(reason, detail, count))
  iterator = iter(ds)
  first = next(iterator)
  assert first[0].numpy().tolist() == RECORDS[:2]
  checkpoint = tf.train.Checkpoint(iterator=iterator)
  saved = checkpoint.save(str(tmp_path / "ckpt"))
  (_, reason, _, count), = [tuple(t.numpy().tolist() for t in b)
                            for b in iterator]
  assert (reason, count) == ([UNREADABLE], [4])
  checkpoint.restore(saved)
  assert next(iterator)[3].numpy().tolist() == [4]


def test_lost_records_walks_the_framing(intact):
  content = tf.constant(intact)
  for read, lost, at in ((0, 6, 0), (4, 2, OFFSETS[4]), (6, 1, len(intact))):
    records, offset, framing_lost = tfrecord_shards.lost_records(content,
                                                                 read)
    assert (int(records), int(offset), bool(framing_lost)) == (
        lost, at, False)
