# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Filters img2dataset TFRecord shards with ALIGN's rules, on Apache Beam.

  python -m official.align.filtering.beam_pipeline \
    --input_pattern='gs://bucket/shards/*.tfrecord' \
    --output_dir=gs://bucket/filtered \
    [--eval_images='gs://bucket/eval/**.jpg'] [--min_image_side=200 ...] \
    [--runner=DataflowRunner --project=... (any Beam pipeline option)]

The rules and their charging order are in `rules.py`. Kept records are
written unchanged (byte-identical) to `output_dir/filtered-SSSSS-of-NNNNN
.tfrecord`, with `output_dir/report.json` (see `_build_report`). The input is
TFRecord shards; webdataset tars are refused by name (the output keeps the
input's records). Every image header is read (PIL, no decoding): one
declaring more than `--max_image_pixels` is charged to `image_size`, whatever
its metadata says.

Outputs are first written to a temporary subdirectory of `output_dir`; only
when the whole pipeline has succeeded are the shards renamed into place,
then `report.json` last, so a `report.json` marks a complete output. A failed
run publishes nothing and raises `FilteringError`.

An input shard whose TFRecord framing is corrupt (truncated, bad CRC) is not
fatal: it is listed in the report under `unreadable_shards` and none of its
records is used (not counted, not in statistics, not in the output). Records
that are not `tf.train.Example`s are charged to the `malformed` rule and their
shards listed under `shards_with_malformed_records`.

All counting is done by Beam combines inside the pipeline, so the report is
exact on any runner (DirectRunner, Dataflow, Flink, Spark).
"""
import dataclasses
import itertools
import json
import sys
import uuid

from absl import app
from absl import flags
from absl import logging
from official.align import extras  # pylint: disable=g-bad-import-order
beam = extras.require("apache_beam", "beam", "The filtering pipeline")
from apache_beam.io import fileio  # pylint: disable=g-import-not-at-top
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState
import numpy as np

from official.align import atomic_publish
from official.align.dataloaders import shard_format
from official.align.filtering import rules
from official.align.filtering import shard_reader

OUTPUT_PREFIX = "filtered"
OUTPUT_SUFFIX = ".tfrecord"
REPORT_NAME = "report.json"
_KEPT = "kept"
# A glob matching nothing is an error, not an empty corpus or eval set.
_DISALLOW_EMPTY = fileio.EmptyMatchTreatment.DISALLOW

# Tagged outputs.
_UNREADABLE = shard_reader.UNREADABLE
_FAILED = "failed"
_MALFORMED_SHARD = "malformed_shard"
_BY_IMAGE = "by_image"
_BY_TEXT = "by_text"
_NGRAM = "ngram"


class FilteringError(RuntimeError):
  """The pipeline failed; nothing was published to the output directory."""


# The reading is shared with the word counts (`shard_reader`).
_ReadShardFn = shard_reader.ReadShardFn
_drop_unreadable = shard_reader.drop_unreadable


class _AnalyzeFn(beam.DoFn):
  """Applies the per-record rules and emits the inputs of the corpus rules.

  Main output: (record_id, record). Tagged outputs: `_FAILED` (record_id,
  rule); `_MALFORMED_SHARD` path; for records that are not malformed,
  `_BY_IMAGE` (image hash, (record_id, text hash)), `_BY_TEXT` (text,
  (record_id, image hash)) and `_NGRAM` (ngram, record_id).
  """

  def __init__(self, config: rules.FilterConfig,
               keys: shard_format.FeatureKeys):
    super().__init__()
    self._config = config
    self._keys = keys

  def process(self, element, eval_hashes=None):
    record_id, path, record = element
    yield record_id, record
    pair = rules.parse_record(record, self._keys)
    failure = rules.first_record_failure(pair, self._config, eval_hashes)
    if failure is not None:
      yield beam.pvalue.TaggedOutput(_FAILED, (record_id, failure))
    if failure == rules.MALFORMED:
      yield beam.pvalue.TaggedOutput(_MALFORMED_SHARD, path)
      return
    image_hash = rules.content_hash(pair.image)
    text_hash = rules.content_hash(pair.text.encode("utf-8"))
    yield beam.pvalue.TaggedOutput(_BY_IMAGE,
                                   (image_hash, (record_id, text_hash)))
    yield beam.pvalue.TaggedOutput(_BY_TEXT, (pair.text, (record_id,
                                                          image_hash)))
    for ngram in rules.ngrams(rules.tokenize(pair.text)):
      yield beam.pvalue.TaggedOutput(_NGRAM, (ngram, record_id))


def _charge_group(group, limit: int, rule: str):
  """Charges `rule` to every record of a group with > `limit` distinct items."""
  _, members = group
  if rules.exceeds_distinct((item for _, item in members), limit):
    for record_id, _ in members:
      yield record_id, rule


def _out_of_vocabulary(group, min_count: int):
  """(record_id, `vocabulary`) for the records of an n-gram below the cut.

  An n-gram's frequency is its number of records. At most `min_count` of them
  are read, so a frequent n-gram's (possibly huge) group costs little; this
  is why a lazy GroupByKey is used and not CoGroupByKey, which builds lists.
  """
  _, record_ids = group
  first = list(itertools.islice(record_ids, min_count))
  if len(first) < min_count:
    for record_id in first:
      yield record_id, rules.VOCABULARY


def _vocabulary_stats(count_histogram, vocabulary_size: int):
  min_count = rules.vocabulary_min_count(count_histogram, vocabulary_size)
  return {
      "top_n": vocabulary_size,
      "min_count": min_count,
      "size": sum(n for c, n in count_histogram.items() if c >= min_count),
      "distinct_ngrams": sum(count_histogram.values()),
  }


def _verdict(joined):
  """(charged rule or `_KEPT`, record) of one record."""
  _, grouped = joined
  (record,) = grouped["record"]
  return rules.first_failure(grouped["failed"]) or _KEPT, record


def _hash_eval_image(readable_file):
  image_hash = rules.dhash(readable_file.read())
  if image_hash is None:
    raise ValueError(f"Cannot decode eval image {readable_file.metadata.path}")
  return image_hash


def _eval_hashes(pipeline, eval_images: str):
  """A singleton uint64 array of the dHashes of the images matching a glob."""
  return (pipeline
          | "MatchEvalImages" >> fileio.MatchFiles(
              eval_images, empty_match_treatment=_DISALLOW_EMPTY)
          | "ReadEvalImages" >> fileio.ReadMatches()
          | "HashEvalImages" >> beam.Map(_hash_eval_image)
          | "EvalHashList" >> beam.combiners.ToList()
          | "EvalHashArray" >> beam.Map(np.array, dtype=np.uint64))


def _build_report(_, *, charges, input_shards, unreadable, malformed_shards,
                  vocabulary, eval_images, config):
  """The JSON report.

  Schema: `input_pairs` (records of readable shards), `output_pairs`,
  `removed` {rule: count} in `rule_order` (sums to input - output),
  `rule_order`, `input_shards` (files matched), `unreadable_shards`
  [{path, error}] (skipped entirely), `shards_with_malformed_records`
  {path: count}, `vocabulary` {top_n, min_count, size, distinct_ngrams},
  `eval_images` (count, 0 if the rule is off) and `config` (thresholds).
  """
  removed = {rule: charges.get(rule, 0) for rule in rules.RULE_ORDER}
  report = {
      "input_pairs": sum(charges.values()),
      "output_pairs": charges.get(_KEPT, 0),
      "removed": removed,
      "rule_order": list(rules.RULE_ORDER),
      "input_shards": input_shards,
      "unreadable_shards": sorted(unreadable, key=lambda s: s["path"]),
      "shards_with_malformed_records": dict(sorted(malformed_shards.items())),
      "vocabulary": vocabulary,
      "eval_images": eval_images,
      "config": dataclasses.asdict(config),
  }
  return json.dumps(report, indent=2)


def build_pipeline(pipeline: beam.Pipeline,
                   input_pattern: str,
                   work_dir: str,
                   config: rules.FilterConfig,
                   keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS,
                   eval_images: str | None = None,
                   num_output_shards: int = 0) -> None:
  """Adds the filtering graph, writing shards and report into `work_dir`."""
  paths = (pipeline
           | "MatchInput" >> fileio.MatchFiles(
               input_pattern, empty_match_treatment=_DISALLOW_EMPTY)
           | "InputPaths" >> beam.Map(lambda metadata: metadata.path)
           | "SpreadShards" >> beam.Reshuffle())
  read = paths | "ReadShards" >> beam.ParDo(_ReadShardFn()).with_outputs(
      _UNREADABLE, main="records")
  unreadable = read[_UNREADABLE]
  records = read.records | "DropUnreadable" >> beam.FlatMap(
      _drop_unreadable, beam.pvalue.AsList(unreadable))

  side_inputs = {}
  if eval_images:
    eval_hashes = _eval_hashes(pipeline, eval_images)
    side_inputs["eval_hashes"] = beam.pvalue.AsSingleton(eval_hashes)
  analyzed = records | "Analyze" >> beam.ParDo(
      _AnalyzeFn(config, keys), **side_inputs).with_outputs(
          _FAILED, _MALFORMED_SHARD, _BY_IMAGE, _BY_TEXT, _NGRAM,
          main="keyed")

  image_failures = (analyzed[_BY_IMAGE]
                    | "GroupByImage" >> beam.GroupByKey()
                    | "ImageAltTexts" >> beam.FlatMap(
                        _charge_group, config.max_alt_texts_per_image,
                        rules.IMAGE_ALT_TEXTS))
  text_failures = (analyzed[_BY_TEXT]
                   | "GroupByText" >> beam.GroupByKey()
                   | "TextShared" >> beam.FlatMap(
                       _charge_group, config.max_images_per_text,
                       rules.TEXT_SHARED))

  vocabulary = (analyzed[_NGRAM]
                | "CountNgrams" >> beam.combiners.Count.PerKey()
                | "NgramFrequency" >> beam.Map(lambda kv: (kv[1], 1))
                | "FrequencyHistogram" >> beam.CombinePerKey(sum)
                | "HistogramDict" >> beam.combiners.ToDict()
                | "VocabularyStats" >> beam.Map(_vocabulary_stats,
                                                config.vocabulary_size))
  vocabulary_failures = (
      analyzed[_NGRAM]
      | "GroupByNgram" >> beam.GroupByKey()
      | "OutOfVocabulary" >> beam.FlatMap(
          _out_of_vocabulary,
          beam.pvalue.AsSingleton(vocabulary
                                  | "MinCount" >> beam.Map(
                                      lambda v: v["min_count"]))))

  failures = ((analyzed[_FAILED], image_failures, text_failures,
               vocabulary_failures)
              | "AllFailures" >> beam.Flatten())
  verdicts = ({"record": analyzed.keyed, "failed": failures}
              | "JoinFailures" >> beam.CoGroupByKey()
              | "Verdict" >> beam.Map(_verdict))

  _ = (verdicts
       | "Kept" >> beam.Filter(lambda v: v[0] == _KEPT)
       | "KeptRecords" >> beam.Map(lambda v: v[1])
       | "WriteShards" >> beam.io.WriteToTFRecord(
           FileSystems.join(work_dir, OUTPUT_PREFIX),
           file_name_suffix=OUTPUT_SUFFIX, num_shards=num_output_shards))

  charges = (verdicts
             | "ChargedRule" >> beam.Map(lambda v: v[0])
             | "CountCharges" >> beam.combiners.Count.PerElement()
             | "ChargesDict" >> beam.combiners.ToDict())
  malformed_shards = (analyzed[_MALFORMED_SHARD]
                      | "CountMalformed" >> beam.combiners.Count.PerElement()
                      | "MalformedDict" >> beam.combiners.ToDict())
  input_shards = paths | "CountShards" >> beam.combiners.Count.Globally()
  eval_count = (beam.pvalue.AsSingleton(
      eval_hashes | "CountEval" >> beam.Map(len)) if eval_images else 0)
  _ = (pipeline
       | "ReportSeed" >> beam.Create([None])
       | "BuildReport" >> beam.Map(
           _build_report,
           charges=beam.pvalue.AsSingleton(charges),
           input_shards=beam.pvalue.AsSingleton(input_shards),
           unreadable=beam.pvalue.AsList(unreadable),
           malformed_shards=beam.pvalue.AsSingleton(malformed_shards),
           vocabulary=beam.pvalue.AsSingleton(vocabulary),
           eval_images=eval_count,
           config=config)
       | "WriteReport" >> beam.io.WriteToText(
           FileSystems.join(work_dir, REPORT_NAME), shard_name_template="",
           num_shards=1))


def _published_shards(directory: str) -> list[str]:
  pattern = FileSystems.join(directory, f"{OUTPUT_PREFIX}-*{OUTPUT_SUFFIX}")
  return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _check_output_dir_free(output_dir: str) -> None:
  if (FileSystems.exists(FileSystems.join(output_dir, REPORT_NAME))
      or _published_shards(output_dir)):
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
       for n in names + [REPORT_NAME]], _beam_file_ops())


def _delete_tree(directory: str) -> None:
  """Deletes the files under `directory` (object stores), then the directory."""
  pattern = FileSystems.join(directory, "**")
  files = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
  if files:
    FileSystems.delete(files)
  if FileSystems.exists(directory):
    FileSystems.delete([directory])


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
    build_pipeline(pipeline, input_pattern, work_dir, config, keys,
                   eval_images, num_output_shards)
    state = pipeline.run().wait_until_finish()
    if state != PipelineState.DONE:
      raise FilteringError(f"Pipeline finished in state {state}.")
    _publish(work_dir, output_dir)
  except Exception as e:
    raise FilteringError(
        f"Filtering {input_pattern} failed; nothing was published to "
        f"{output_dir}: {type(e).__name__}: {e}") from e
  finally:
    _delete_tree(work_dir)
  with FileSystems.open(FileSystems.join(output_dir, REPORT_NAME)) as f:
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
