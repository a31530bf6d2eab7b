# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The filter's Beam graph: ALIGN's rules over TFRecord shards, and a report.

`build_pipeline` reads the shards matching a glob (`shard_reader`), applies
the per-record rules to each record and the corpus rules to groups of
records (an image's distinct alt-texts, a text's distinct images, the
vocabulary's n-grams), charges each record the first rule it fails (rules
and charging order: `rules.py`), and writes the kept records unchanged
(byte-identical) to `work_dir/filtered-SSSSS-of-NNNNN.tfrecord`, with
`work_dir/report.json` (see `_build_report`). Every image header is read
(PIL, no decoding): one declaring more than `max_image_pixels` is charged
to `image_size`, whatever its metadata says. Running it and publishing its
outputs: `beam_pipeline`.

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

from official.align import extras  # pylint: disable=g-bad-import-order
beam = extras.require("apache_beam", "beam", "The filtering pipeline")
from apache_beam.io import fileio  # pylint: disable=g-import-not-at-top
from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
import numpy as np

from official.align.dataloaders import shard_format
from official.align.filtering import rules
from official.align.filtering import shard_reader

OUTPUT_PREFIX = "filtered"
OUTPUT_SUFFIX = ".tfrecord"
REPORT_NAME = "report.json"
_KEPT = "kept"

# Tagged outputs.
_UNREADABLE = shard_reader.UNREADABLE
_FAILED = "failed"
_MALFORMED_SHARD = "malformed_shard"
_BY_IMAGE = "by_image"
_BY_TEXT = "by_text"
_NGRAM = "ngram"


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
              eval_images, empty_match_treatment=shard_reader.DISALLOW_EMPTY)
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
               input_pattern, empty_match_treatment=shard_reader.DISALLOW_EMPTY)
           | "InputPaths" >> beam.Map(lambda metadata: metadata.path)
           | "SpreadShards" >> beam.Reshuffle())
  read = paths | "ReadShards" >> beam.ParDo(
      shard_reader.ReadShardFn()).with_outputs(_UNREADABLE, main="records")
  unreadable = read[_UNREADABLE]
  records = read.records | "DropUnreadable" >> beam.FlatMap(
      shard_reader.drop_unreadable, beam.pvalue.AsList(unreadable))

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
