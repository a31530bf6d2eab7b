"""Filtering pipeline (Beam, DirectRunner) with malformed shards and failures.

Promise: a malformed input shard is reported by path and every other output
is written in full; any failure of the run as a whole publishes nothing
(outputs are written to a temporary directory and renamed on success, the
report last; a failed rename takes the moved shards back out).
"""
import os

from apache_beam.io.filesystems import FileSystems
import pytest

from filtering import fixtures
from official.align.filtering import beam_pipeline
from official.align.filtering import filter_graph

_DIRECT = beam_pipeline.PipelineOptions([
    "--runner=DirectRunner", "--direct_num_workers=1",
    "--direct_running_mode=in_memory"])
_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight")


def _good_records(prefix, count, seed):
  """Records every rule keeps: big images, distinct 4-word captions."""
  return [fixtures.example(
      f"{prefix}{i}", fixtures.noise_image(seed + i),
      " ".join(_WORDS[(i + j) % len(_WORDS)] for j in range(4)) + f" {prefix}",
      640, 480) for i in range(count)]


def _write_corpus(root):
  """Two good shards and three malformed ones; returns (glob, good records)."""
  os.makedirs(root)
  good = _good_records("a", 4, 0) + _good_records("b", 3, 10)
  fixtures.write_shard(os.path.join(root, "a.tfrecord"), good[:4])
  fixtures.write_shard(os.path.join(root, "b.tfrecord"), good[4:])
  with open(os.path.join(root, "garbage.tfrecord"), "wb") as f:
    f.write(b"\x00\x01 this is no TFRecord framing " * 20)
  with open(os.path.join(root, "bad.tfrecord.gz"), "wb") as f:
    f.write(b"not gzip " * 40)  # Decompressed by extension: fails.
  truncated = os.path.join(root, "truncated.tfrecord")
  fixtures.write_shard(truncated, _good_records("t", 3, 20))
  with open(truncated, "rb+") as f:
    f.truncate(os.path.getsize(truncated) - 7)
  return os.path.join(root, "*"), good


def test_malformed_shards_are_reported_and_the_rest_written_in_full(tmp_path):
  pattern, good = _write_corpus(str(tmp_path / "in"))
  output_dir = str(tmp_path / "out")
  report = beam_pipeline.run(pattern, output_dir, pipeline_options=_DIRECT)
  bad = {os.path.basename(s["path"]): s["error"]
         for s in report["unreadable_shards"]}
  assert set(bad) == {"garbage.tfrecord", "bad.tfrecord.gz",
                      "truncated.tfrecord"}
  assert all(error.startswith("record ") for error in bad.values())
  assert report["input_shards"] == 5
  # Nothing of the bad shards leaks (not even truncated.tfrecord's first
  # records); every good record is written, byte-identical.
  shards = [os.path.join(output_dir, n) for n in os.listdir(output_dir)
            if n.startswith("filtered-")]
  written = sorted(r for s in shards for r in fixtures.read_shard(s))
  assert written == sorted(good)
  assert report["input_pairs"] == report["output_pairs"] == len(good)
  assert sorted(os.listdir(output_dir)) == sorted(
      [os.path.basename(s) for s in shards] + ["report.json"])


def test_failure_while_publishing_leaves_no_partial_output(tmp_path,
                                                           monkeypatch):
  pattern, _ = _write_corpus(str(tmp_path / "in"))
  output_dir = str(tmp_path / "out")
  rename = FileSystems.rename

  def rename_failing_on_report(sources, destinations):
    # Only `_publish`'s move into output_dir (the sinks rename in _tmp-*).
    if os.path.join(output_dir, filter_graph.REPORT_NAME) in destinations:
      raise IOError("simulated failure moving the report")
    return rename(sources, destinations)

  monkeypatch.setattr(FileSystems, "rename",
                      staticmethod(rename_failing_on_report))
  with pytest.raises(beam_pipeline.FilteringError,
                     match="nothing was published.*simulated failure"):
    beam_pipeline.run(pattern, output_dir, num_output_shards=2,
                      pipeline_options=_DIRECT)
  # The two shards had been moved before the report failed: taken back out,
  # and the temporary directory is gone.
  assert os.listdir(output_dir) == []
