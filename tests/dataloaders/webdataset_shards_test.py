"""Tests of webdataset_shards: every tar sample a record or a counted marker.

Tars are written by Python's `tarfile` (as webdataset's `TarWriter` writes
them) and, for sparse members, by GNU tar (`tar --sparse`), the tool that
makes them; damage is cut or overwritten bytes.
"""
import io
import os
import subprocess
import tarfile

import pytest
import tensorflow as tf

from official.align.dataloaders import skip_counts
from official.align.dataloaders import webdataset_shards

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 300  # Never decoded here.
UNREADABLE = skip_counts.reason_index("unreadable_shard")
TOO_LARGE = skip_counts.reason_index("record_too_large")


def _write_tar(path, samples, gzip=False):
  """samples: [(key, {ext: bytes})]; returns the byte offset of each member."""
  offsets = {}
  with tarfile.open(path, "w:gz" if gzip else "w") as tar:
    for key, parts in samples:
      for ext, data in parts.items():
        info = tarfile.TarInfo(f"{key}.{ext}")
        info.size = len(data)
        offsets[info.name] = tar.offset
        tar.addfile(info, io.BytesIO(data))
  return offsets


def _samples(n):
  return [(f"{i:03d}", {"jpg": JPEG, "txt": f"caption {i}".encode()})
          for i in range(n)]


def _read(path, **kwargs):
  """[(key or None, reason)] of the elements of a tar."""
  out = []
  for record, reason, detail, count in webdataset_shards.read_webdataset_tar(
      path, **kwargs):
    assert count == 1
    if reason == skip_counts.NOT_SKIPPED:
      feature = tf.train.Example.FromString(record).features.feature
      out.append((feature["key"].bytes_list.value[0].decode(), reason))
    else:
      assert record == b"" and path in detail.decode()
      out.append((None, reason))
  return out


def test_intact_tar_and_tar_gz(tmp_path):
  for name, gzip in (("a.tar", False), ("a.tar.gz", True)):
    path = str(tmp_path / name)
    _write_tar(path, _samples(4), gzip=gzip)
    assert _read(path) == [(f"{i:03d}", -1) for i in range(4)]


def test_oversized_and_sparse_members_are_counted_never_read(tmp_path):
  # An oversized member (above a small cap) through tarfile.
  path = str(tmp_path / "big.tar")
  samples = _samples(3)
  samples[1][1]["jpg"] = b"\xff\xd8\xff" + b"y" * 5000
  _write_tar(path, samples)
  assert _read(path, max_member_bytes=1000) == [
      ("000", -1), (None, TOO_LARGE), ("002", -1)]
  # A 2 GiB sparse member, written by GNU tar: a few KB on disk.
  src = tmp_path / "src"
  src.mkdir()
  for key in ("000", "001", "002"):
    (src / f"{key}.txt").write_bytes(b"a caption")
    if key != "001":
      (src / f"{key}.jpg").write_bytes(JPEG)
  with open(src / "001.jpg", "wb") as f:
    f.truncate(2 * 2**30)
  sparse = str(tmp_path / "sparse.tar")
  subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", sparse, "-C",
                  str(src), "000.jpg", "000.txt", "001.jpg", "001.txt",
                  "002.jpg", "002.txt"], check=True)
  assert os.path.getsize(sparse) < 100_000
  with tarfile.open(sparse) as tar:
    assert tar.getmember("001.jpg").issparse()
  # Even with a cap above 2 GiB: sparse members are never extracted.
  assert _read(sparse, max_member_bytes=2**40) == [
      ("000", -1), (None, TOO_LARGE), ("002", -1)]


def test_damage_ends_the_shard_with_one_count(tmp_path):
  path = str(tmp_path / "a.tar")
  offsets = _write_tar(path, _samples(4))
  data = open(path, "rb").read()
  cases = {
      # Inside the data of sample 1's first member.
      "cut_in_data": data[:offsets["001.jpg"] + 512 + 100],
      # Inside sample 1's header; at a header boundary (no end marker).
      "cut_in_header": data[:offsets["001.jpg"] + 100],
      "cut_at_boundary": data[:offsets["001.jpg"]],
      # Sample 1's header overwritten (its checksum fails).
      "bad_header": (data[:offsets["001.jpg"]] + b"\x07" * 512 +
                     data[offsets["001.jpg"] + 512:]),
  }
  for name, damaged in cases.items():
    cut = str(tmp_path / f"{name}.tar")
    with open(cut, "wb") as f:
      f.write(damaged)
    assert _read(cut) == [("000", -1), (None, UNREADABLE)], name
  gz = str(tmp_path / "a.tar.gz")
  _write_tar(gz, _samples(40), gzip=True)
  cut = str(tmp_path / "cut.tar.gz")
  with open(gz, "rb") as src, open(cut, "wb") as dst:
    data = src.read()
    dst.write(data[:len(data) // 2])
  read = _read(cut)
  assert read[-1] == (None, UNREADABLE)
  assert all(r == -1 for _, r in read[:-1])


def test_missing_shard_is_one_count(tmp_path):
  assert _read(str(tmp_path / "gone.tar")) == [(None, UNREADABLE)]


class _Flaky(io.RawIOBase):
  """A file whose reads fail with OSError after `fail_after` bytes, `times`."""

  def __init__(self, data, fail_after, times):
    super().__init__()
    self._buffer = io.BytesIO(data)
    self._fail_after, self._times = fail_after, times

  def readable(self):
    return True

  def readinto(self, b):
    if self._times and self._buffer.tell() >= self._fail_after:
      self._times -= 1
      raise OSError(5, "Input/output error (injected)")
    return self._buffer.readinto(b)


def test_storage_errors_are_retried_then_fatal(tmp_path, monkeypatch):
  path = str(tmp_path / "a.tar")
  _write_tar(path, _samples(12))  # 2 KB per sample.
  data = open(path, "rb").read()
  failures = {"left": 2}

  def flaky_gfile(name, mode="rb"):
    del name, mode
    times = 1 if failures["left"] > 0 else 0
    failures["left"] -= 1
    # tarfile reads 10 KB at a time: the failure hits the second read.
    return io.BufferedReader(_Flaky(data, 12_000, times), buffer_size=512)

  monkeypatch.setattr(webdataset_shards, "STORAGE_RETRY_SECONDS", (0.0, 0.0))
  monkeypatch.setattr(tf.io.gfile, "GFile", flaky_gfile)
  # Two transient failures: reopened, read on from the next sample; none
  # lost, none twice.
  assert _read(path) == [(f"{i:03d}", -1) for i in range(12)]
  failures["left"] = 10**6  # Fails on every attempt: a fatal marker.
  read = _read(path)
  assert read[-1] == (None, webdataset_shards.FATAL)
  assert [k for k, _ in read[:-1]] == [f"{i:03d}" for i in range(len(read)
                                                                 - 1)]
  assert 1 <= len(read) - 1 < 12


@pytest.mark.parametrize("members", [["001.txt"], []])
def test_no_image_or_empty_tar(tmp_path, members):
  path = str(tmp_path / "a.tar")
  with tarfile.open(path, "w") as tar:
    for name in members:
      info = tarfile.TarInfo(name)
      info.size = 3
      tar.addfile(info, io.BytesIO(b"abc"))
  assert _read(path) == ([("001", -1)] if members else [])
