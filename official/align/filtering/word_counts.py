# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Caption word counts on Apache Beam, and the WordPiece vocabulary learned
from them: the corpus-sized path of `build_vocab`.

  python -m official.align.dataloaders.build_vocab \
      --input_pattern='gs://bucket/filtered/filtered-*.tfrecord' \
      --output=gs://bucket/vocab.txt --vocab_size=100000 \
      --runner=DataflowRunner [--min_word_count=2] [--project=... (any Beam
      pipeline option)]

The pipeline reads TFRecord shards with the filter's reader
(`shard_reader`: a shard whose framing is damaged is reported and none of
its records is used), takes each record's caption as `build_vocab` does
(the first value of the text feature; records that are no
`tf.train.Example`, lack the caption, or whose caption is not UTF-8 or is
blank are skipped and counted per reason), splits it into words with BERT's
basic splitting (`tensorflow_text` `BasicTokenizer`, lower-casing as
configured: exactly what `bert_vocab_from_dataset` does), and sums the
counts with `CombinePerKey`. Words seen fewer than `min_word_count` times
are dropped inside the pipeline, so what comes back to this process is the
vocabulary-relevant part of the counts; the report says how many words were
counted and how many are left.

The vocabulary is then learned in this process by tensorflow_text's
`wordpiece_tokenizer_learner_lib.learn`, the learner `bert_vocab_from_dataset`
calls, on the counts sorted by (count, word). With `min_word_count=1` the
vocab.txt is the one the single-machine `build_vocab` writes (tested). A
`min_word_count` above 1 changes the learner's input (rare words add to the
counts of their sub-words and bring their characters), so it can change the
vocabulary; it is what makes a web-scale corpus's counts fit in memory.

Outputs (counts, report) go to a temporary directory on the runner's file
system and are deleted after reading; the vocab.txt is published
atomically.
"""
import collections
import json
import unicodedata
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
from official.align import extras  # pylint: disable=g-bad-import-order
beam = extras.require("apache_beam", "beam", "Beam word counts")
from apache_beam.io import fileio  # pylint: disable=g-import-not-at-top
from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
from apache_beam.runners.runner import PipelineState  # pylint: disable=g-import-not-at-top
from google.protobuf import message
import tensorflow as tf
from tensorflow_text.python.ops import bert_tokenizer
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from official.align.dataloaders import shard_format
from official.align.dataloaders import text_preprocessing
from official.align.filtering import shard_reader

COUNTS_PREFIX = "word_counts"
REPORT_NAME = "report.json"
DEFAULT_BATCH_SIZE = 256
_SKIPPED = "skipped"
# RE2's \s, which build_vocab's blank-caption check uses, is [\t\n\f\r ].
_RE2_SPACE = frozenset("\t\n\f\r ")


class WordCountError(RuntimeError):
  """The pipeline failed; no vocabulary was written."""


def caption_of(record: bytes, text_key: str) -> Tuple[Optional[str],
                                                      Optional[str]]:
  """(caption, None) if `record` has a usable caption, else (None, reason).

  Usable as in `build_vocab.caption_dataset`: the first value of the text
  feature, valid UTF-8, not only white space (RE2's `[\\s\\p{Z}]*`).
  """
  try:
    feature = tf.train.Example.FromString(record).features.feature
  except message.DecodeError:
    return None, "malformed_record"
  values = feature[text_key].bytes_list.value if text_key in feature else []
  if not values:
    return None, "missing_feature"
  try:
    text = values[0].decode("utf-8")
  except UnicodeDecodeError:
    return None, "invalid_utf8"
  if all(c in _RE2_SPACE or unicodedata.category(c).startswith("Z")
         for c in text):
    return None, "empty_caption"
  return text, None


class _CaptionFn(beam.DoFn):
  """(record_id, path, record) → caption; tagged `_SKIPPED`: reason."""

  def __init__(self, text_key: str):
    super().__init__()
    self._text_key = text_key

  def process(self, element):
    _, _, record = element
    caption, reason = caption_of(record, self._text_key)
    if caption is None:
      yield beam.pvalue.TaggedOutput(_SKIPPED, reason)
    else:
      yield caption


class _CountWordsFn(beam.DoFn):
  """A batch of captions → (word, count) pairs of BERT basic splitting."""

  def __init__(self, lower_case: bool):
    super().__init__()
    self._lower_case = lower_case
    self._tokenizer = None

  def setup(self):
    # The splitter `bert_vocab_from_dataset` uses, with its parameters.
    self._tokenizer = bert_tokenizer.BasicTokenizer(lower_case=self._lower_case)

  def process(self, captions: List[str]):
    words = self._tokenizer.tokenize(tf.constant(captions, tf.string))
    counts = collections.Counter(words.flat_values.numpy().tolist())
    for word, count in counts.items():
      yield word.decode("utf-8"), count


def _build_report(_, *, words, kept, captions, skipped, input_shards,
                  unreadable, min_word_count, lower_case):
  """The JSON report (see `count_words`)."""
  return json.dumps({
      "input_shards": input_shards,
      "unreadable_shards": sorted(unreadable, key=lambda s: s["path"]),
      "captions": captions,
      "skipped": dict(sorted(skipped.items())),
      "distinct_words": words,
      "min_word_count": min_word_count,
      "words_kept": kept,
      "lower_case": lower_case,
  }, indent=2)


def build_pipeline(pipeline, input_pattern: str, work_dir: str,
                   lower_case: bool = True, min_word_count: int = 1,
                   text_key: str = shard_format.DEFAULT_KEYS.text,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> None:
  """Adds read → caption → split → count, writing counts and a report."""
  # The filter's reading: shards by path, damaged ones reported and dropped.
  paths = (pipeline
           | "MatchInput" >> fileio.MatchFiles(
               input_pattern,
               empty_match_treatment=shard_reader.DISALLOW_EMPTY)
           | "InputPaths" >> beam.Map(lambda metadata: metadata.path)
           | "SpreadShards" >> beam.Reshuffle())
  read = paths | "ReadShards" >> beam.ParDo(
      shard_reader.ReadShardFn()).with_outputs(shard_reader.UNREADABLE,
                                               main="records")
  unreadable = read[shard_reader.UNREADABLE]
  records = read.records | "DropUnreadable" >> beam.FlatMap(
      shard_reader.drop_unreadable, beam.pvalue.AsList(unreadable))
  parsed = records | "Captions" >> beam.ParDo(
      _CaptionFn(text_key)).with_outputs(_SKIPPED, main="captions")
  counts = (parsed.captions
            | "BatchCaptions" >> beam.BatchElements(
                min_batch_size=batch_size, max_batch_size=batch_size)
            | "SplitWords" >> beam.ParDo(_CountWordsFn(lower_case))
            | "SumCounts" >> beam.CombinePerKey(sum))
  kept = counts | "MinCount" >> beam.Filter(
      lambda kv: kv[1] >= min_word_count)
  _ = (kept
       | "CountLines" >> beam.Map(lambda kv: json.dumps(
           [kv[0], kv[1]], ensure_ascii=False))
       | "WriteCounts" >> beam.io.WriteToText(
           FileSystems.join(work_dir, COUNTS_PREFIX),
           file_name_suffix=".jsonl"))

  def total(pcoll, label):
    return beam.pvalue.AsSingleton(
        pcoll | label >> beam.combiners.Count.Globally())

  _ = (pipeline
       | "ReportSeed" >> beam.Create([None])
       | "BuildReport" >> beam.Map(
           _build_report,
           words=total(counts, "CountWords"),
           kept=total(kept, "CountKept"),
           captions=total(parsed.captions, "CountCaptions"),
           skipped=beam.pvalue.AsSingleton(
               parsed[_SKIPPED]
               | "CountSkipped" >> beam.combiners.Count.PerElement()
               | "SkippedDict" >> beam.combiners.ToDict()),
           input_shards=total(paths, "CountShards"),
           unreadable=beam.pvalue.AsList(unreadable),
           min_word_count=min_word_count, lower_case=lower_case)
       | "WriteReport" >> beam.io.WriteToText(
           FileSystems.join(work_dir, REPORT_NAME), shard_name_template="",
           num_shards=1))


def _read_text(path: str) -> str:
  with FileSystems.open(path) as f:
    return f.read().decode("utf-8")


def count_words(input_pattern: str, work_dir: str, lower_case: bool = True,
                min_word_count: int = 1,
                text_key: str = shard_format.DEFAULT_KEYS.text,
                pipeline_options: Optional[PipelineOptions] = None
                ) -> Tuple[List[Tuple[str, int]], Dict[str, Any]]:
  """Runs the word count pipeline; returns (counts, report).

  Args:
    input_pattern: TFRecord shards (glob).
    work_dir: a directory for the pipeline's outputs (deleted here).
    lower_case: lower-case and strip accents before splitting.
    min_word_count: words seen fewer times are dropped in the pipeline.
    text_key: caption feature name.
    pipeline_options: Beam options; default DirectRunner.

  Returns:
    ([(word, count)] of the words kept, sorted by count then word; the
    report {input_shards, unreadable_shards [{path, error}], captions,
    skipped {reason: n}, distinct_words, min_word_count, words_kept,
    lower_case}).

  Raises:
    WordCountError: the pipeline failed.
  """
  if min_word_count < 1:
    raise ValueError(f"min_word_count must be >= 1, got {min_word_count}.")
  try:
    pipeline = beam.Pipeline(options=pipeline_options or PipelineOptions())
    build_pipeline(pipeline, input_pattern, work_dir, lower_case,
                   min_word_count, text_key)
    state = pipeline.run().wait_until_finish()
    if state != PipelineState.DONE:
      raise WordCountError(f"Pipeline finished in state {state}.")
    report = json.loads(_read_text(FileSystems.join(work_dir, REPORT_NAME)))
    pattern = FileSystems.join(work_dir, f"{COUNTS_PREFIX}*.jsonl")
    counts = []
    for metadata in FileSystems.match([pattern])[0].metadata_list:
      counts.extend(tuple(json.loads(line)) for line in
                    _read_text(metadata.path).splitlines() if line)
  except WordCountError:
    raise
  except Exception as e:
    raise WordCountError(f"Counting the words of {input_pattern} failed: "
                         f"{type(e).__name__}: {e}") from e
  finally:
    shard_reader.delete_tree(work_dir)
  counts.sort(key=lambda wc: (-wc[1], wc[0]))
  return counts, report


def learn_vocab(input_pattern: str, work_dir: str, vocab_size: int = 100_000,
                lower_case: bool = True, min_word_count: int = 1,
                text_key: str = shard_format.DEFAULT_KEYS.text,
                reserved_tokens: Sequence[str] = (
                    text_preprocessing.RESERVED_TOKENS),
                learn_params: Optional[Dict[str, Any]] = None,
                pipeline_options: Optional[PipelineOptions] = None
                ) -> Tuple[List[str], Dict[str, Any]]:
  """Beam word counts, then tensorflow_text's WordPiece learner.

  Args: as `count_words`, and `vocab_size`, `reserved_tokens`,
    `learn_params` as `build_vocab.learn_vocab`.

  Returns:
    (the vocabulary, reserved tokens first; the `count_words` report).

  Raises:
    WordCountError: the pipeline failed.
    ValueError: no word was left to learn from.
  """
  counts, report = count_words(input_pattern, work_dir, lower_case,
                               min_word_count, text_key, pipeline_options)
  logging.info(
      "%d captions (skipped %s; %d unreadable shards): %d distinct words, "
      "%d seen at least %d times.", report["captions"], report["skipped"],
      len(report["unreadable_shards"]), report["distinct_words"],
      report["words_kept"], min_word_count)
  if not counts:
    raise ValueError(f"No words to learn a vocabulary from in "
                     f"{input_pattern} (report: {report}).")
  vocab = learner.learn(counts, vocab_size, list(reserved_tokens),
                        **dict(learn_params or {}))
  return vocab, report


def work_dir_for(output: str) -> str:
  """A fresh directory beside `output` for the pipeline's files."""
  parent, _ = FileSystems.split(output)
  return FileSystems.join(parent or ".", f"_word_counts_tmp-{uuid.uuid4().hex}")
