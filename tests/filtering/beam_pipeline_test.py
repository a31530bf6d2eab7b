"""The filtering pipeline's failure and refusal paths (DirectRunner): a
failed run publishes nothing; a used output dir and webdataset tars are
refused."""
import os

import pytest

from filtering import fixtures
from official.align.filtering import beam_pipeline

_DIRECT = ["--runner=DirectRunner", "--direct_num_workers=1",
           "--direct_running_mode=in_memory"]


def test_failed_run_publishes_nothing(tmp_path):
  input_dir = tmp_path / "input"
  input_dir.mkdir()
  fixtures.write_shard(str(input_dir / "a.tfrecord"), [
      fixtures.example("k", fixtures.noise_image(1), "one two three", 640,
                       480)])
  (tmp_path / "bad.png").write_bytes(b"not an image")
  output_dir = tmp_path / "out"
  with pytest.raises(beam_pipeline.FilteringError,
                     match="Cannot decode eval image .*bad.png"):
    beam_pipeline.run(
        str(input_dir / "*"), str(output_dir),
        eval_images=str(tmp_path / "bad.png"),
        pipeline_options=beam_pipeline.PipelineOptions(_DIRECT))
  assert not output_dir.exists() or not os.listdir(output_dir)


def test_refuses_an_output_dir_with_a_report(tmp_path):
  (tmp_path / "report.json").write_text("{}")
  with pytest.raises(FileExistsError):
    beam_pipeline.run(str(tmp_path / "*.tfrecord"), str(tmp_path))


def test_refuses_webdataset_shards_by_name(tmp_path):
  (tmp_path / "shard-0000.tar").write_bytes(b"")
  with pytest.raises(ValueError, match=r"reads TFRecord shards.*"
                     r"shard-0000\.tar is a webdataset tar"):
    beam_pipeline.run(str(tmp_path / "*"), str(tmp_path / "out"))
