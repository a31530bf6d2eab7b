# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Learns a WordPiece vocab.txt from the captions of img2dataset shards.

Uses `tensorflow_text`'s `bert_vocab_from_dataset` (BERT basic splitting, then
the WordPiece learner) on the caption feature of TFRecord or webdataset tar
shards (`--shard_format`, by default detected from the file names). The
reserved tokens [PAD], [UNK], [CLS], [SEP], [MASK] come first, so [PAD] has
id 0.

Records without a usable caption (missing, invalid UTF-8, blank), records
that are no `tf.train.Example`, and damaged or vanished shards (read as
`InputReader` reads them: `shard_reading.shard_reader`) are left out and
counted per reason (`skip_counts.SKIP_REASONS`); the counts are logged.

  python -m official.align.dataloaders.build_vocab \
      --input_pattern='/data/train-*.tfrecord' --output=vocab.txt \
      --vocab_size=100000 --lower_case

This reads every caption in one process: for a small corpus. With
`--runner` (DirectRunner, DataflowRunner, FlinkRunner, SparkRunner, ...;
other Beam pipeline options pass through) the words are counted on Apache
Beam instead (`official.align.filtering.word_counts`) and the same learner
runs on the counts; with the default `--min_word_count=1` the vocab.txt is
the same. The file is written atomically (`atomic_publish`).
"""
import collections
import sys
import uuid
from typing import Dict, List, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bvd

from official.align import atomic_publish
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format
from official.align.dataloaders import shard_reading
from official.align.dataloaders import skip_counts
from official.align.dataloaders import text_preprocessing
from official.align.dataloaders import tfrecord_shards
from official.align.dataloaders import webdataset_shards

_REASON_INDEX = {name: skip_counts.reason_index(name) for name in (
    "malformed_record", "missing_feature", "invalid_utf8", "empty_caption")}


def caption_dataset(input_pattern,
                    text_key: str = shard_format.DEFAULT_KEYS.text,
                    max_records: Optional[int] = None,
                    batch_size: int = 1024,
                    shard_format_name: str = "auto") -> tf.data.Dataset:
  """Batches of the captions of shards, each with why it is unusable.

  Args:
    input_pattern: glob, comma-separated globs or list of files.
    text_key: caption feature name.
    max_records: read at most this many records (all if None).
    batch_size: captions per element.
    shard_format_name: "tfrecord", "webdataset" or "auto" (webdataset if
      every file is a .tar/.tar.gz).

  Returns:
    A dataset of dicts of [<= batch_size] tensors: `caption` string,
    `reason` int32 (`skip_counts.NOT_SKIPPED` for a usable caption, else the
    index of its skip reason, or an in-band code: `skip_counts.END_OF_PASS`
    ends the data, `tfrecord_shards.resolve_lost` counts the PENDING ones),
    `detail` string, `count` int64 (the records the element stands for) and
    `unparsed` int64 (records before this one that were no
    `tf.train.Example`, to be counted as `malformed_record`).
  """
  files = input_reader.list_shards(input_pattern)
  if shard_format_name == "auto":
    shard_format_name = shard_reading.detect_shard_format(files)
  keys = shard_format.FeatureKeys(text=text_key)
  reader = shard_reading.shard_reader(shard_format_name, keys)
  ds = tf.data.Dataset.from_tensor_slices(files).interleave(
      reader.read, cycle_length=8, num_parallel_calls=tf.data.AUTOTUNE)
  if max_records is not None:
    ds = ds.take(max_records)
  # The pass end makes unparsable records at the end show as a gap.
  ds = ds.concatenate(tf.data.Dataset.from_tensors(reader.pass_end))

  def parse(index, element):
    serialized, reason, detail, count = reader.interpret(element)
    parsed = tf.io.parse_single_example(
        serialized, {text_key: tf.io.RaggedFeature(tf.string)})[text_key]
    text = tf.cond(tf.size(parsed) > 0, lambda: parsed[0],
                   lambda: tf.constant(b""))
    valid = tf.equal(
        tf.strings.unicode_transcode(text, "UTF-8", "UTF-8",
                                     errors="replace"), text)
    blank = tf.strings.regex_full_match(text, r"[\s\p{Z}]*")
    check = tf.where(
        tf.equal(tf.size(parsed), 0), _REASON_INDEX["missing_feature"],
        tf.where(tf.logical_not(valid), _REASON_INDEX["invalid_utf8"],
                 tf.where(blank, _REASON_INDEX["empty_caption"],
                          skip_counts.NOT_SKIPPED)))
    reason = tf.where(tf.equal(reason, skip_counts.NOT_SKIPPED), check,
                      reason)
    return index, text, reason, detail, count

  def count_gaps(last_index, element):
    index, text, reason, detail, count = element
    return index, {"caption": text, "reason": reason, "detail": detail,
                   "count": count, "unparsed": index - last_index - 1}

  ds = ds.enumerate().map(parse, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.ignore_errors().scan(tf.constant(-1, tf.int64), count_gaps)
  return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def usable_captions(dataset: tf.data.Dataset,
                    skipped: collections.Counter):
  """Yields the usable captions (numpy string [n]) of `caption_dataset`.

  Counts the others per reason name into `skipped`.

  Raises:
    RuntimeError: a shard failed with a storage error that persisted.
  """
  for batch in dataset.as_numpy_iterator():
    unparsed = int(batch["unparsed"].sum())
    if unparsed:
      skipped["malformed_record"] += unparsed
    if np.any(batch["reason"] == webdataset_shards.FATAL):
      raise RuntimeError("A shard cannot be read (storage error); see the "
                         "log line before this one.")
    reasons, _, counts = (np.asarray(t) for t in tfrecord_shards.resolve_lost(
        batch["reason"], batch["detail"], batch["count"]))
    for reason, count in zip(reasons, counts):
      if reason >= 0 and count:
        skipped[skip_counts.SKIP_REASONS[reason]] += int(count)
    yield batch["caption"][reasons == skip_counts.NOT_SKIPPED]


@gin.configurable
def learn_vocab(input_pattern,
                vocab_size: int = 100_000,
                lower_case: bool = True,
                text_key: str = shard_format.DEFAULT_KEYS.text,
                reserved_tokens: Sequence[str] = (
                    text_preprocessing.RESERVED_TOKENS),
                max_records: Optional[int] = None,
                learn_params: Optional[Dict] = None,
                shard_format_name: str = "auto",
                skipped: Optional[collections.Counter] = None) -> List[str]:
  """Learns a WordPiece vocabulary.

  Args:
    input_pattern: TFRecord or webdataset shards (glob / list).
    vocab_size: maximum vocabulary size, including reserved tokens.
    lower_case: lower-case (and strip accents) first; use the same setting
      in `TextTokenizer`.
    text_key: caption feature name.
    reserved_tokens: tokens placed first, in this order.
    max_records: learn from at most this many records.
    learn_params: extra keyword arguments of the tensorflow_text learner
      (`wordpiece_tokenizer_learner_lib.learn`), e.g. `lower_thresh` (minimum
      token count, default 10).
    shard_format_name: "tfrecord", "webdataset" or "auto".
    skipped: a Counter to add the records left out to, per reason name.

  Returns:
    The vocabulary, a list of tokens (reserved first).
  """
  skipped = collections.Counter() if skipped is None else skipped
  dataset = caption_dataset(input_pattern, text_key, max_records,
                            shard_format_name=shard_format_name)
  captions = tf.data.Dataset.from_generator(
      lambda: usable_captions(dataset, skipped),
      output_signature=tf.TensorSpec([None], tf.string))
  vocab = bvd.bert_vocab_from_dataset(
      captions,
      vocab_size=vocab_size,
      reserved_tokens=list(reserved_tokens),
      bert_tokenizer_params={"lower_case": lower_case},
      learn_params=dict(learn_params or {}))
  if sum(skipped.values()):
    logging.warning("Left out of the vocabulary: %s.",
                    ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())
                              if v))
  return vocab


def write_vocab(vocab: Sequence[str], path: str) -> None:
  """Writes one token per line (via tf.io.gfile), atomically."""
  staged = f"{path}.tmp-{uuid.uuid4().hex}"
  with tf.io.gfile.GFile(staged, "w") as f:
    for token in vocab:
      f.write(token + "\n")
  atomic_publish.publish([(staged, path)], atomic_publish.gfile_ops())


def main(argv):
  f = flags.FLAGS
  if f.runner:
    shard_format_name = f.shard_format
    if shard_format_name == "auto":
      shard_format_name = shard_reading.detect_shard_format(
          input_reader.list_shards(f.input_pattern))
    if shard_format_name != "tfrecord":
      raise app.UsageError(
          f"--runner counts words in TFRecord shards; {f.input_pattern} is "
          f"{shard_format_name} (drop --runner to read it in one process).")
    # Only this path needs Apache Beam (the `beam` extra).
    from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
    from official.align.filtering import word_counts  # pylint: disable=g-import-not-at-top
    vocab, report = word_counts.learn_vocab(
        f.input_pattern, word_counts.work_dir_for(f.output),
        vocab_size=f.vocab_size, lower_case=f.lower_case,
        min_word_count=f.min_word_count, text_key=f.text_key,
        learn_params={"lower_thresh": f.lower_thresh},
        pipeline_options=PipelineOptions(argv[1:] + [f"--runner={f.runner}"]))
    write_vocab(vocab, f.output)
    print(f"Counted {report['distinct_words']} distinct words in "
          f"{report['captions']} captions (skipped {report['skipped']}, "
          f"{len(report['unreadable_shards'])} unreadable shards); "
          f"{report['words_kept']} seen at least {f.min_word_count} times; "
          f"wrote {len(vocab)} tokens to {f.output}")
    return
  if len(argv) > 1:
    raise app.UsageError(f"Unknown arguments {argv[1:]} (Beam options need "
                         "--runner).")
  vocab = learn_vocab(
      f.input_pattern, vocab_size=f.vocab_size, lower_case=f.lower_case,
      text_key=f.text_key, max_records=f.max_records,
      learn_params={"lower_thresh": f.lower_thresh},
      shard_format_name=f.shard_format)
  write_vocab(vocab, f.output)
  logging.info("Wrote %d tokens to %s", len(vocab), f.output)


def _define_flags():
  flags.DEFINE_string("input_pattern", None,
                      "TFRecord or webdataset shards (glob).")
  flags.DEFINE_enum("shard_format", "auto", ("auto",) + (
      shard_reading.SHARD_FORMATS), "Shard format; auto: webdataset if "
                    "every file is a .tar/.tar.gz, else tfrecord.")
  flags.DEFINE_string("output", None, "Path of the vocab.txt to write.")
  flags.DEFINE_integer("vocab_size", 100_000, "Maximum vocabulary size.")
  flags.DEFINE_bool("lower_case", True, "Lower-case captions first.")
  flags.DEFINE_string("text_key", "txt", "Caption feature name.")
  flags.DEFINE_integer("max_records", None, "Read at most this many.")
  flags.DEFINE_integer("lower_thresh", 10,
                       "Minimum count for a token to be kept.")
  flags.DEFINE_string("runner", None,
                      "Count words on Apache Beam with this runner (e.g. "
                      "DirectRunner, DataflowRunner); other Beam options "
                      "pass through. Unset: one process.")
  flags.DEFINE_integer("min_word_count", 1,
                       "With --runner: drop words seen fewer times before "
                       "learning (1 keeps all: the single-process result).")
  flags.mark_flags_as_required(["input_pattern", "output"])


def _parse_flags(argv):
  """This module's flags; the rest (Beam options) goes to `main`."""
  try:
    return flags.FLAGS(argv, known_only=True)
  except flags.Error as e:
    sys.exit(f"FATAL Flags parsing error: {e}")


if __name__ == "__main__":
  _define_flags()
  app.run(main, flags_parser=_parse_flags)
