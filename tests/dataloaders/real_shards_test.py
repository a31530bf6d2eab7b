"""InputReader over shards written by the real img2dataset and webdataset.

img2dataset (pinned in requirements-test.txt) downloads `real_tools`'s small
web from 127.0.0.1 in four modes: TFRecord and webdataset output, each with
and without re-encoding (`--disable_all_reencoding`, which keeps the served
bytes and writes `width`/`height` as empty bytes). webdataset's own
`ShardWriter`/`TarWriter` write tar and tar.gz shards. The expected outcome of
every record comes from what was served and what the tool says it wrote (its
parquet `status`, the raw records read with protobuf/tarfile), never from
the reader under test.
"""
import collections
import concurrent.futures
import io
import os
import tarfile
import tempfile

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.align.dataloaders import input_reader
from official.align.dataloaders import skip_counts
from dataloaders import real_tools  # pylint: disable=g-bad-import-order


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue",
         "circle", "square"]
MODES = [("tfrecord", False), ("tfrecord", True), ("webdataset", False),
         ("webdataset", True)]


@pytest.fixture(scope="module")
def corpus():
  """{mode: shard dir} of the four img2dataset runs, the rows, the vocab."""
  root = tempfile.mkdtemp()
  vocab = os.path.join(root, "vocab.txt")
  with open(vocab, "w") as f:
    f.write("\n".join(VOCAB) + "\n")
  with real_tools.serve(os.path.join(root, "www")) as base_url:
    rows = real_tools.build_corpus(root, base_url)
    outputs = {mode: os.path.join(root, f"{mode[0]}_{mode[1]}")
               for mode in MODES}
    with concurrent.futures.ThreadPoolExecutor(len(MODES)) as pool:
      runs = [pool.submit(real_tools.run_img2dataset,
                          os.path.join(root, "urls.parquet"), out, fmt,
                          reencode)
              for (fmt, reencode), out in outputs.items()]
      for run in runs:
        run.result()
  return outputs, {r.url: r for r in rows}, vocab


def _raw_records(directory, fmt):
  """[(url, caption bytes)] of every record img2dataset wrote, in file order,
  read without the reader under test."""
  records = []
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if fmt == "tfrecord" and name.endswith(".tfrecord"):
      for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        feature = tf.train.Example.FromString(raw).features.feature
        records.append((feature["url"].bytes_list.value[0].decode(),
                        feature["txt"].bytes_list.value[0]))
    elif fmt == "webdataset" and name.endswith(".tar"):
      with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
      for member in sorted(members):
        if member.endswith(".json"):
          import json  # pylint: disable=import-outside-toplevel
          stem = member[:-len(".json")]
          records.append((json.loads(members[member])["url"],
                          members.get(stem + ".txt")))
  return records


def _shard_pattern(directory, fmt):
  """The glob of the shards img2dataset wrote in `directory`."""
  return os.path.join(directory,
                      "*.tfrecord" if fmt == "tfrecord" else "*.tar")


def _read_all(pattern, fmt, vocab, batch_size=4):
  reader = input_reader.InputReader(
      pattern, batch_size, is_training=False, vocab_file=vocab, seq_length=8,
      image_size=16, resize_size=18, shard_format_name=fmt,
      deterministic=True, return_text=True)
  batches = list(reader().as_numpy_iterator())
  texts = [t for b in batches for t in b["text"]]
  return texts, skip_counts.skip_counts_to_dict(
      batches[-1]["skipped_records"])


@pytest.mark.parametrize("fmt,reencode", MODES)
def test_img2dataset_shards_are_read_exactly(corpus, fmt, reencode):
  outputs, rows, vocab = corpus
  directory = outputs[(fmt, reencode)]
  statuses = real_tools.written_statuses(directory)
  written = _raw_records(directory, fmt)
  # What the tool wrote: every "success" row, and nothing else.
  assert sorted(u for u, _ in written) == sorted(
      u for u, s in statuses.items() if s == "success")
  assert len(written) >= 15
  expected_texts, expected_counts = [], collections.Counter()
  for url, caption in written:
    row = rows[url]
    assert caption == row.written_caption.encode("utf-8"), row
    reason = row.reason(reencoded=reencode)
    if reason is None:
      expected_texts.append(caption)
    else:
      expected_counts[reason] += 1
  texts, counts = _read_all(_shard_pattern(directory, fmt), fmt, vocab)
  # Exactly the pairs that should survive, captions byte-identical.
  assert sorted(texts) == sorted(expected_texts)
  assert counts == {r: expected_counts[r] for r in skip_counts.SKIP_REASONS}
  assert len(texts) + sum(counts.values()) == len(written)


def _png(seed):
  rng = np.random.default_rng(seed)
  buf = io.BytesIO()
  Image.fromarray(rng.integers(0, 256, (12, 10, 3), np.uint8)).save(
      buf, format="PNG")
  return buf.getvalue()


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
def test_webdataset_writer_shards(corpus, suffix):
  import webdataset as wds  # pylint: disable=import-outside-toplevel
  _, _, vocab = corpus
  directory = tempfile.mkdtemp()
  samples = [
      {"__key__": "s000", "png": _png(0), "txt": "a red circle",
       "json": {"width": "n/a", "height": None, "source": "web"}},
      {"__key__": "s001", "png": _png(1)},  # No caption.
      {"__key__": "s002", "jpg": real_tools._images()["jpeg"][1],
       "txt": "a blue square", "json": {"width": 0}},
      {"__key__": "s003", "png": _png(3), "txt": " "},
      {"__key__": "s004", "webp": real_tools._images()["webp"][1],
       "txt": "blue"},
  ]
  if suffix == ".tar":
    pattern = os.path.join(directory, "shard-%04d.tar")
    with wds.ShardWriter(pattern, maxcount=2, verbose=0) as sink:
      for sample in samples:
        sink.write(sample)
    glob = os.path.join(directory, "shard-*.tar")
    assert len(tf.io.gfile.glob(glob)) == 3
  else:
    glob = os.path.join(directory, "shard-0000.tar.gz")
    with wds.TarWriter(glob) as sink:
      for sample in samples:
        sink.write(sample)
    with open(glob, "rb") as f:
      assert f.read(2) == b"\x1f\x8b"  # gzip, as webdataset wrote it.
  texts, counts = _read_all(glob, "webdataset", vocab, batch_size=2)
  assert sorted(texts) == [b"a blue square", b"a red circle", b"blue"]
  assert counts == dict({r: 0 for r in skip_counts.SKIP_REASONS},
                        missing_feature=1, empty_caption=1)


@pytest.mark.parametrize("fmt,reencode", MODES)
def test_search_collection_reads_img2dataset_shards(corpus, fmt, reencode):
  """`search build`'s reader: every record an item or a counted skip."""
  from official.align.search import collection  # pylint: disable=import-outside-toplevel
  outputs, rows, _ = corpus
  directory = outputs[(fmt, reencode)]
  written = _raw_records(directory, fmt)
  files, detected = collection.list_collection(
      _shard_pattern(directory, fmt))
  assert detected == fmt
  skipped = collection.SkipCounter()
  items = list(collection.iterate_items(files, fmt, skipped))
  # The collection checks images only (captions are not indexed); decoding
  # happens when embedding.
  expected = collections.Counter(
      rows[url].image_reason for url, _ in written
      if not reencode and rows[url].image_reason not in (None, "decode_error"))
  assert dict(skipped) == dict(expected)
  assert len(items) + sum(skipped.values()) == len(written)


@pytest.mark.parametrize("fmt,reencode", MODES)
def test_build_vocab_reads_img2dataset_shards(corpus, fmt, reencode):
  """Webdataset shards are accepted too: their users need a vocabulary."""
  from official.align.dataloaders import build_vocab  # pylint: disable=import-outside-toplevel
  outputs, rows, _ = corpus
  directory = outputs[(fmt, reencode)]
  written = _raw_records(directory, fmt)
  skipped = collections.Counter()
  vocab = build_vocab.learn_vocab(
      _shard_pattern(directory, fmt), vocab_size=200, skipped=skipped,
      learn_params={"lower_thresh": 1})
  # Captions only: the blank ones are left out, counted; images never read.
  blank = sum(rows[url].caption_reason == "empty_caption"
              for url, _ in written)
  assert dict(skipped) == ({"empty_caption": blank} if blank else {})
  assert {"red", "circle", "blue", "square", "cercle", "rouge"} <= set(vocab)


def test_beam_filter_reads_img2dataset_shards(corpus, tmp_path):
  """Both TFRecord modes in one DirectRunner run; the report is exact."""
  from official.align.filtering import beam_pipeline  # pylint: disable=import-outside-toplevel
  from official.align.filtering import rules  # pylint: disable=import-outside-toplevel
  outputs, rows, _ = corpus
  written, raw = [], {}
  for reencode in (False, True):
    directory = outputs[("tfrecord", reencode)]
    for name in sorted(os.listdir(directory)):
      if name.endswith(".tfrecord"):
        for record in tf.data.TFRecordDataset(
            os.path.join(directory, name)).as_numpy_iterator():
          url = tf.train.Example.FromString(record).features.feature[
              "url"].bytes_list.value[0].decode()
          written.append((url, reencode))
          raw[record] = (url, reencode)
  # Rules that need no corpus statistics to predict: only `malformed` (an
  # image header PIL cannot read: the empty file, the HTML page, kept as
  # served) and `text_length` (no word in the caption) can charge.
  config = rules.FilterConfig(
      min_image_side=0, max_aspect_ratio=10**6, max_alt_texts_per_image=10**6,
      max_images_per_text=10**6, vocabulary_size=10**9, min_unigrams=1,
      max_unigrams=10**6)
  expected = collections.Counter()
  kept = set()
  for url, reencode in written:
    row = rows[url]
    if not reencode and row.image_reason in ("zero_size_image",
                                             "unknown_image_format"):
      expected[rules.MALFORMED] += 1
    elif row.caption_reason == "empty_caption":
      expected[rules.TEXT_LENGTH] += 1
    else:
      kept.add((url, reencode))
  # The zero-byte file and the HTML page; three blank captions per mode.
  assert (expected[rules.MALFORMED], expected[rules.TEXT_LENGTH]) == (2, 6)
  pattern = os.path.join(os.path.dirname(outputs[("tfrecord", False)]),
                         "tfrecord_*", "*.tfrecord")
  output_dir = str(tmp_path / "filtered")
  report = beam_pipeline.run(
      pattern, output_dir, config=config,
      pipeline_options=beam_pipeline.PipelineOptions(
          ["--runner=DirectRunner", "--direct_num_workers=1",
           "--direct_running_mode=in_memory"]))
  assert report["input_pairs"] == len(written)
  assert report["removed"] == {r: expected[r] for r in rules.RULE_ORDER}
  assert report["output_pairs"] == len(kept)
  assert report["unreadable_shards"] == []
  out = [r for path in sorted(tf.io.gfile.glob(
      os.path.join(output_dir, "filtered-*.tfrecord")))
         for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
  # Kept records byte-identical to what img2dataset wrote.
  assert sorted(raw[r] for r in out) == sorted(kept)
