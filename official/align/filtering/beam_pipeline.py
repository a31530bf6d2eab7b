# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Filters img2dataset TFRecord shards with ALIGN's rules, on Apache Beam.

  python -m official.align.filtering.beam_pipeline \
    --input_pattern='gs://bucket/shards/*.tfrecord' \
    --output_dir=gs://bucket/filtered \
    [--eval_images='gs://bucket/eval/**.jpg'] [--min_image_side=200 ...] \
    [--runner=DataflowRunner --project=... (any Beam pipeline option)]

What it computes (the rules, the kept records, report.json, unreadable and
malformed shards) is the graph of `filter_graph`. The input is TFRecord
shards; webdataset tars are refused by name (the output keeps the input's
records).

Outputs are first written to a temporary subdirectory of `output_dir`; only
when the whole pipeline has succeeded are the shards renamed into place,
then `report.json` last, so a `report.json` marks a complete output. A failed
run publishes nothing and raises `FilteringError`.
"""
import dataclasses
import json
import sys
import uuid

from absl import app
from absl import flags
from absl import logging
from official.align import extras  # pylint: disable=g-bad-import-order
beam = extras.require("apache_beam", "beam", "The filtering pipeline")
from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from official.align import atomic_publish
from official.align.dataloaders import shard_format
from official.align.filtering import filter_graph
from official.align.filtering import rules
from official.align.filtering import shard_reader


class FilteringError(RuntimeError):
  """The pipeline failed; nothing was published to the output directory."""


def _published_shards(directory: str) -> list[str]:
  pattern = FileSystems.join(directory, f"{filter_graph.OUTPUT_PREFIX}-*"
                             f"{filter_graph.OUTPUT_SUFFIX}")
  return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _check_output_dir_free(output_dir: str) -> None:
  report = FileSystems.join(output_dir, filter_graph.REPORT_NAME)
  if FileSystems.exists(report) or _published_shards(output_dir):
    raise FileExistsError(
        f"{output_dir} already holds filtered shards or a report; "
        "use an empty output directory.")


def _beam_file_ops() -> atomic_publish.FileOps:
  """`atomic_publish.FileOps` of Beam's `FileSystems` (any runner's store)."""
  return atomic_publish.FileOps(
      exists=lambda path: FileSystems.exists(path),  # pylint: disable=unnecessary-lambda
      rename=lambda src, dst: FileSystems.rename([src], [dst]),
      delete=lambda path: FileSystems.delete([path]))


def _publish(work_dir: str, output_dir: str) -> None:
  """Moves the shards, then the report, from `work_dir` to `output_dir`.

  `atomic_publish.publish`: if a move fails, the files already moved go
  back to `work_dir`, so no shards are left in `output_dir` without their
  report.
  """
  names = [FileSystems.split(s)[1] for s in _published_shards(work_dir)]
  atomic_publish.publish(
      [(FileSystems.join(work_dir, n), FileSystems.join(output_dir, n))
       for n in names + [filter_graph.REPORT_NAME]], _beam_file_ops())


def _check_input_format(input_pattern: str) -> None:
  """Refuses webdataset tars: the filter reads and writes TFRecord shards."""
  for metadata in FileSystems.match([input_pattern])[0].metadata_list:
    name = FileSystems.split(metadata.path)[1].lower()
    if name.endswith((".tar", ".tar.gz", ".tgz")):
      raise ValueError(
          f"The filter reads TFRecord shards (img2dataset --output_format="
          f"tfrecord) and writes kept records unchanged; {metadata.path} is "
          "a webdataset tar. Download the corpus as TFRecord to filter it.")


def run(input_pattern: str,
        output_dir: str,
        config: rules.FilterConfig = rules.FilterConfig(),
        keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
        eval_images: str | None = None,
        num_output_shards: int = 0,
        pipeline_options: PipelineOptions | None = None) -> dict:
  """Runs the filtering pipeline to completion and returns the report.

  Raises:
    FileExistsError: `output_dir` already holds a filtered output.
    ValueError: the input is webdataset tars.
    FilteringError: the pipeline failed; nothing was published.
  """
  _check_output_dir_free(output_dir)
  _check_input_format(input_pattern)
  work_dir = FileSystems.join(output_dir, f"_tmp-{uuid.uuid4().hex}")
  try:
    pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
    filter_graph.build_pipeline(pipeline, input_pattern, work_dir, config,
                                keys, eval_images, num_output_shards)
    state = pipeline.run().wait_until_finish()
    if state != PipelineState.DONE:
      raise FilteringError(f"Pipeline finished in state {state}.")
    _publish(work_dir, output_dir)
  except Exception as e:
    raise FilteringError(
        f"Filtering {input_pattern} failed; nothing was published to "
        f"{output_dir}: {type(e).__name__}: {e}") from e
  finally:
    shard_reader.delete_tree(work_dir)
  report = FileSystems.join(output_dir, filter_graph.REPORT_NAME)
  with FileSystems.open(report) as f:
    return json.loads(f.read())


# Command line.
_DEFAULTS = rules.FilterConfig()
_DEFAULT_KEYS = shard_format.DEFAULT_KEYS

flags.DEFINE_string("input_pattern", None, "Glob of img2dataset TFRecords.")
# `search.__main__` defines the same flag (`search embed`'s output); a
# process may import both, so it is defined once.
if "output_dir" not in flags.FLAGS:
  flags.DEFINE_string("output_dir", None, "Where filtered shards and "
                      "report.json go; must not hold a previous output.")
flags.DEFINE_string("eval_images", None, "Glob of eval images whose near-"
                    "duplicates are removed; unset turns the rule off.")
flags.DEFINE_integer("num_output_shards", 0,
                     "Output shards; 0 lets the runner decide.")
flags.DEFINE_integer("min_image_side", _DEFAULTS.min_image_side,
                     "Keep images whose shorter side is larger than this.")
flags.DEFINE_float("max_aspect_ratio", _DEFAULTS.max_aspect_ratio,
                   "Keep images whose aspect ratio is below this.")
flags.DEFINE_integer("max_alt_texts_per_image",
                     _DEFAULTS.max_alt_texts_per_image,
                     "Drop images with more distinct alt-texts than this.")
flags.DEFINE_integer("max_images_per_text", _DEFAULTS.max_images_per_text,
                     "Drop alt-texts shared by more distinct images.")
flags.DEFINE_integer("vocabulary_size", _DEFAULTS.vocabulary_size,
                     "Top-N unigrams+bigrams forming the vocabulary.")
flags.DEFINE_integer("min_unigrams", _DEFAULTS.min_unigrams,
                     "Drop texts with fewer tokens.")
flags.DEFINE_integer("max_unigrams", _DEFAULTS.max_unigrams,
                     "Drop texts with more tokens.")
flags.DEFINE_integer("eval_max_hamming_distance",
                     _DEFAULTS.eval_max_hamming_distance,
                     "dHash distance (of 64 bits) at or below which an image "
                     "is a near-duplicate of an eval image.")
flags.DEFINE_integer("max_image_pixels", _DEFAULTS.max_image_pixels,
                     "Drop images whose header declares more pixels "
                     "(decompression bombs).")
flags.DEFINE_string("image_feature", _DEFAULT_KEYS.image, "Image bytes key.")
flags.DEFINE_string("text_feature", _DEFAULT_KEYS.text, "Alt-text key.")
flags.DEFINE_string("width_feature", _DEFAULT_KEYS.width,
                    "Width key; img2dataset's `original_width` gives the "
                    "size before its resizing.")
flags.DEFINE_string("height_feature", _DEFAULT_KEYS.height,
                    "Height key (see --width_feature).")

FLAGS = flags.FLAGS


def config_from_flags() -> rules.FilterConfig:
  return rules.FilterConfig(**{
      field.name: FLAGS[field.name].value
      for field in dataclasses.fields(rules.FilterConfig)})


def keys_from_flags() -> shard_format.FeatureKeys:
  return shard_format.FeatureKeys(
      image=FLAGS.image_feature, text=FLAGS.text_feature,
      width=FLAGS.width_feature, height=FLAGS.height_feature)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses this module's flags; the rest (Beam options) is returned."""
  try:
    return FLAGS(argv, known_only=True)
  except flags.Error as e:
    sys.exit(f"FATAL Flags parsing error: {e}")


def main(argv: list[str]) -> None:
  report = run(FLAGS.input_pattern, FLAGS.output_dir,
               config=config_from_flags(), keys=keys_from_flags(),
               eval_images=FLAGS.eval_images,
               num_output_shards=FLAGS.num_output_shards,
               pipeline_options=PipelineOptions(argv[1:]))
  logging.info("Kept %d of %d pairs; report in %s.", report["output_pairs"],
               report["input_pairs"], FLAGS.output_dir)


if __name__ == "__main__":
  flags.mark_flags_as_required(["input_pattern", "output_dir"])
  app.run(main, flags_parser=parse_flags)
