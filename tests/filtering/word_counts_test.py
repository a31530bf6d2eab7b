"""Beam word counts and the vocabulary learned from them (build_vocab's
corpus-sized path) against the single-process build_vocab."""
import collections
import os
import subprocess
import sys

import pytest

from filtering import fixtures
from official.align.dataloaders import build_vocab
from official.align.dataloaders import shard_format
from official.align.filtering import word_counts

_DIRECT = word_counts.PipelineOptions([
    "--runner=DirectRunner", "--direct_num_workers=1",
    "--direct_running_mode=in_memory"])
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# Case, accents, punctuation, CJK (split per character), digits, emoji,
# apostrophes, hyphens: what BERT's basic splitting treats specially.
_CAPTIONS = [
    "A red circle, on the LEFT!", "a Blue square (small)", "Café crème at 3pm",
    "東京の夜景 night view", "don't stop-believing", "red squares; blue circles",
    "Ünïcödé wörds and ÜNÏCÖDÉ", "green star #42 ★ on white", "rouge: red",
    "the the the quick brown fox", "jumps over 2 lazy dogs...",
]


def _record(key, text):
  return fixtures.example(key, b"x", text)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """Three shards of captions (some repeated) and the records to skip."""
  root = tmp_path_factory.mktemp("captions")
  shards = collections.defaultdict(list)
  for i in range(60):
    shards[i % 3].append(_record(str(i), _CAPTIONS[(i * 7) % len(_CAPTIONS)]))
  bad = [
      b"not an Example at all",  # malformed_record
      shard_format.make_example("none", b"x", None).SerializeToString(),
      shard_format.make_example("utf", b"x", b"zz\xff").SerializeToString(),
      _record("blank", " \t\u3000 "),  # empty_caption (\u3000: Zs)
  ]
  shards[1].extend(bad)
  for number, records in shards.items():
    fixtures.write_shard(str(root / f"train-{number}.tfrecord"), records)
  return str(root / "*.tfrecord"), str(root)


@pytest.mark.parametrize("lower_case", [True, False])
def test_beam_vocab_is_the_single_process_vocab(corpus, tmp_path, lower_case):
  pattern, _ = corpus
  # The single-process path reads TFRecords without skipping malformed
  # records, so it gets the shards without them.
  clean = tmp_path / "clean"
  clean.mkdir()
  for name in ("train-0.tfrecord", "train-2.tfrecord"):
    fixtures.write_shard(str(clean / name), fixtures.read_shard(
        os.path.join(os.path.dirname(pattern), name)))
  fixtures.write_shard(str(clean / "train-1.tfrecord"), [
      r for r in fixtures.read_shard(
          os.path.join(os.path.dirname(pattern), "train-1.tfrecord"))
      if r != b"not an Example at all"])
  params = {"lower_thresh": 2}
  expected = build_vocab.learn_vocab(str(clean / "*.tfrecord"), vocab_size=120,
                                     lower_case=lower_case,
                                     learn_params=params)
  vocab, report = word_counts.learn_vocab(
      pattern, str(tmp_path / "work"), vocab_size=120, lower_case=lower_case,
      learn_params=params, pipeline_options=_DIRECT)
  single_path = tmp_path / "single.txt"
  beam_path = tmp_path / "beam.txt"
  build_vocab.write_vocab(expected, str(single_path))
  build_vocab.write_vocab(vocab, str(beam_path))
  assert beam_path.read_bytes() == single_path.read_bytes()
  assert len(vocab) > 60  # Not a trivial vocabulary.
  assert report["captions"] == 60
  assert report["skipped"] == {"empty_caption": 1, "invalid_utf8": 1,
                               "malformed_record": 1, "missing_feature": 1}
  assert report["words_kept"] == report["distinct_words"]
  assert not os.path.exists(tmp_path / "work")  # Work files deleted.
  assert "東" in vocab  # CJK characters are words of their own.
  # Lower-casing strips accents: "Ünïcödé" and "ÜNÏCÖDÉ" become "unicode".
  assert ("unicode" in vocab) == lower_case


def test_min_word_count_and_counts(corpus, tmp_path):
  pattern, _ = corpus
  counts, report = word_counts.count_words(
      pattern, str(tmp_path / "work"), min_word_count=6,
      pipeline_options=_DIRECT)
  all_counts, all_report = word_counts.count_words(
      pattern, str(tmp_path / "work2"), pipeline_options=_DIRECT)
  everything = dict(all_counts)
  # Record i has caption (7 i) % 11: captions 0, 3, 6, 7 and 10 six times,
  # the others five. "the": once in caption 0, three times in caption 9.
  assert everything["the"] == 6 + 3 * 5
  assert everything["rouge"] == 5 and everything["left"] == 6
  assert dict(counts) == {w: c for w, c in everything.items() if c >= 6}
  assert report["distinct_words"] == all_report["distinct_words"] == len(
      everything)
  assert report["words_kept"] == len(counts) < len(everything)
  assert [c for _, c in counts] == sorted((c for _, c in counts),
                                          reverse=True)


def test_unreadable_shard_is_reported_and_unused(corpus, tmp_path):
  _, root = corpus
  damaged = tmp_path / "in"
  damaged.mkdir()
  records = fixtures.read_shard(os.path.join(root, "train-0.tfrecord"))
  fixtures.write_shard(str(damaged / "good.tfrecord"), records)
  fixtures.write_shard(str(damaged / "cut.tfrecord"), records)
  with open(damaged / "cut.tfrecord", "rb+") as f:
    f.truncate(os.path.getsize(damaged / "cut.tfrecord") - 5)
  _, report = word_counts.count_words(str(damaged / "*"),
                                      str(tmp_path / "work"),
                                      pipeline_options=_DIRECT)
  assert [os.path.basename(s["path"]) for s in report["unreadable_shards"]
          ] == ["cut.tfrecord"]
  assert report["captions"] == len(records)


def test_build_vocab_cli_with_runner(corpus, tmp_path):
  pattern, _ = corpus
  out = tmp_path / "vocab.txt"
  result = subprocess.run(
      [sys.executable, "-m", "official.align.dataloaders.build_vocab",
       f"--input_pattern={pattern}", f"--output={out}", "--vocab_size=100",
       "--lower_thresh=2", "--min_word_count=2", "--runner=DirectRunner",
       "--direct_num_workers=1"],
      cwd=REPO, capture_output=True, text=True, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "seen at least 2 times" in result.stdout
  vocab = out.read_text().split("\n")[:-1]
  assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  assert "red" in vocab
  assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]  # Nothing else left.


def test_build_vocab_runner_refuses_webdataset_by_name(tmp_path):
  (tmp_path / "part-00000.tar").write_bytes(b"")
  out = tmp_path / "vocab.txt"
  result = subprocess.run(
      [sys.executable, "-m", "official.align.dataloaders.build_vocab",
       f"--input_pattern={tmp_path}/*.tar", f"--output={out}",
       "--runner=DirectRunner"],
      cwd=REPO, capture_output=True, text=True, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode != 0
  assert "--runner counts words in TFRecord shards" in result.stderr
  assert "webdataset" in result.stderr
  assert not out.exists()
