"""Hostile and damaged input through the public entry points (issue 19).

Each case of docs/reliability.md's "Hostile input" section: decompression
bombs (a valid PNG declaring 20000 x 20000, a 2 GiB sparse tar member, a
5 MB caption), framing damage (a flipped TFRecord byte, a cut tar), shards
that vanish after listing, storage errors. Every one costs a count (exact),
never the host's memory, never the run. Memory is the peak RSS of a
subprocess reading each shard (`VmHWM`, reset between shards), against the
same subprocess reading a clean shard; time bounds are thread joins.

Files are made at test time: PIL and hand-built PNG/GIF bytes,
`tf.io.TFRecordWriter`, Python's `tarfile` and GNU tar (`tar --sparse`, the
tool that writes sparse members).
"""
import collections
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import zlib

import gin
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.align.dataloaders import build_vocab
from official.align.dataloaders import image_headers
from official.align.dataloaders import input_reader
from official.align.dataloaders import shard_format
from official.align.dataloaders import skip_counts

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue",
         "circle", "square"]
BOMB_SIDE = 20000


def _jpeg(seed, size=(40, 30)):
  rng = np.random.default_rng(seed)
  buf = io.BytesIO()
  Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3),
                               np.uint8)).save(buf, format="JPEG")
  return buf.getvalue()


def _png_chunk(kind, data):
  return (len(data).to_bytes(4, "big") + kind + data +
          zlib.crc32(kind + data).to_bytes(4, "big"))


def png_bomb(side=BOMB_SIDE):
  """A valid 1-bit grayscale PNG of side x side black pixels (~50 KB)."""
  row = b"\0" * (1 + (side + 7) // 8)  # Filter byte + packed pixels.
  compressor = zlib.compressobj(9)
  idat = b"".join(compressor.compress(row * 500) for _ in range(side // 500))
  idat += compressor.flush()
  header = (side.to_bytes(4, "big") * 2) + bytes([1, 0, 0, 0, 0])
  return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) +
          _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def _write_tfrecord(path, records):
  """records: [(key, image, caption, width, height)]."""
  with tf.io.TFRecordWriter(path) as writer:
    for key, image, caption, width, height in records:
      writer.write(shard_format.make_example(
          key, image, caption, width, height).SerializeToString())


def _write_tar(path, samples):
  with tarfile.open(path, "w") as tar:
    for key, parts in samples:
      for ext, data in parts.items():
        info = tarfile.TarInfo(f"{key}.{ext}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
  path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
  path.write_text("\n".join(VOCAB) + "\n")
  return str(path)


def _reader(pattern, vocab_file, **kwargs):
  kwargs.setdefault("is_training", False)
  return input_reader.InputReader(
      pattern, kwargs.pop("batch_size", 2), vocab_file=vocab_file,
      seq_length=8, image_size=16, resize_size=18, deterministic=True,
      return_text=True, **kwargs)


def _read_pass(reader):
  """(captions read, {reason: count}) of one finite pass."""
  batches = list(reader().as_numpy_iterator())
  texts = [t for b in batches for t in b["text"]]
  return texts, skip_counts.skip_counts_to_dict(
      batches[-1]["skipped_records"])


def _counts(**nonzero):
  return dict({r: 0 for r in skip_counts.SKIP_REASONS}, **nonzero)


# Reads each (name, pattern, format) with an InputReader, in a fresh process;
# the peak RSS of each read (VmHWM, reset before it through clear_refs).
_RSS_CHILD = r"""
import json, re, sys, time
from official.align.dataloaders import input_reader, skip_counts

def hwm_kb():
  with open("/proc/self/status") as f:
    return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))

vocab, cases = sys.argv[1], json.loads(sys.argv[2])
out = {}
for name, pattern, fmt in cases:
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # Peak RSS := current RSS.
  start = time.time()
  reader = input_reader.InputReader(
      pattern, 2, is_training=False, vocab_file=vocab, seq_length=8,
      image_size=16, resize_size=18, deterministic=True,
      shard_format_name=fmt)
  batches = list(reader().as_numpy_iterator())
  out[name] = dict(
      peak_rss_kb=hwm_kb(), seconds=time.time() - start,
      read=sum(len(b["input_word_ids"]) for b in batches),
      counts=skip_counts.skip_counts_to_dict(batches[-1]["skipped_records"]))
print("RSS_RESULT=" + json.dumps(out))
"""


def test_bombs_cost_a_count_not_the_memory(tmp_path, vocab):
  """The 20000^2 PNG, the 2 GiB sparse member and the 5 MB caption."""
  good = [(f"g{i}", _jpeg(i), "a red circle", 40, 30) for i in range(2)]
  _write_tfrecord(str(tmp_path / "clean.tfrecord"), good + [
      ("g2", _jpeg(2), "a blue square", 40, 30)])
  # The metadata claims 40 x 30; the header says 20000 x 20000.
  _write_tfrecord(str(tmp_path / "png_bomb.tfrecord"), good[:1] + [
      ("bomb", png_bomb(), "a red circle", 40, 30)] + good[1:])
  _write_tfrecord(str(tmp_path / "caption.tfrecord"), good[:1] + [
      ("long", _jpeg(3), "a red circle " * 400_000, 40, 30)] + good[1:])
  assert len(png_bomb()) < 100_000
  # Tars: a clean one, and one whose sample 001 has a 2 GiB sparse .jpg
  # (GNU tar writes sparse members; Python's tarfile cannot).
  src = tmp_path / "src"
  src.mkdir()
  for i in range(3):
    (src / f"00{i}.txt").write_text("a red circle")
    (src / f"00{i}.jpg").write_bytes(_jpeg(10 + i))
  _write_tar(str(tmp_path / "clean.tar"), [
      (f"00{i}", {"jpg": _jpeg(10 + i), "txt": b"a red circle"})
      for i in range(3)])
  with open(src / "001.jpg", "wb") as f:
    f.truncate(2 * 2**30)
  subprocess.run(["tar", "--sparse", "--format=gnu", "-cf",
                  str(tmp_path / "sparse.tar"), "-C", str(src)] +
                 [f"00{i}.{e}" for i in range(3) for e in ("jpg", "txt")],
                 check=True)
  assert os.path.getsize(tmp_path / "sparse.tar") < 100_000

  cases = [(name, str(tmp_path / name), fmt) for name, fmt in (
      ("clean.tfrecord", "tfrecord"), ("png_bomb.tfrecord", "tfrecord"),
      ("caption.tfrecord", "tfrecord"), ("clean.tar", "webdataset"),
      ("sparse.tar", "webdataset"))]
  result = subprocess.run(
      [sys.executable, "-c", _RSS_CHILD, vocab, json.dumps(cases)],
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  line = next(l for l in result.stdout.splitlines()
              if l.startswith("RSS_RESULT="))
  measured = json.loads(line[len("RSS_RESULT="):])
  print(json.dumps(measured, indent=1))  # For the record (pytest -s).
  # Exact counts: the bombs are skipped before decoding or extracting.
  expected = {
      "clean.tfrecord": (3, _counts()),
      "png_bomb.tfrecord": (2, _counts(image_too_large=1)),
      "caption.tfrecord": (3, _counts()),
      "clean.tar": (3, _counts()),
      "sparse.tar": (2, _counts(record_too_large=1)),
  }
  for name, (read, counts) in expected.items():
    assert (measured[name]["read"], measured[name]["counts"]) == (
        read, counts), name
  # Bounded memory: each bomb within 1.5x of its clean shard's peak RSS.
  for bomb, clean in (("png_bomb.tfrecord", "clean.tfrecord"),
                      ("caption.tfrecord", "clean.tfrecord"),
                      ("sparse.tar", "clean.tar")):
    ratio = measured[bomb]["peak_rss_kb"] / measured[clean]["peak_rss_kb"]
    assert ratio <= 1.5, (bomb, ratio, measured)


def test_a_100_megapixel_jpeg_reads_with_the_default_caps(tmp_path, vocab):
  # 11648 x 8736 (101.8 MP, a 100-megapixel camera's frame), one flat
  # colour: small on disk; decoding its crop window takes ~1 GB, once.
  image = Image.new("L", (11648, 8736), 90)
  buf = io.BytesIO()
  image.save(buf, format="JPEG", quality=50)
  del image
  path = str(tmp_path / "photo.tfrecord")
  _write_tfrecord(path, [("photo", buf.getvalue(), "a red circle", None,
                          None)])
  texts, counts = _read_pass(_reader(path, vocab))
  assert texts == [b"a red circle"] and counts == _counts()


def test_caps_are_gin_bound(tmp_path, vocab):
  path = str(tmp_path / "small.tfrecord")
  _write_tfrecord(path, [("a", _jpeg(0, (40, 30)), "a red circle", 0, 0),
                         ("b", _jpeg(1, (20, 10)), "a blue square", 0, 0)])
  gin.parse_config(["InputReader.max_pixels = 1000",
                    "TextTokenizer.bytes_per_token = 1"])
  reader = _reader(path, vocab)
  texts, counts = _read_pass(reader)
  assert texts == [b"a blue square"]
  assert counts == _counts(image_too_large=1)
  # 1 byte per token: seq_length 8 reads 8 bytes ("a blue s").
  assert reader.tokenizer.max_text_bytes == 8


def test_flipped_tfrecord_byte_costs_a_count(tmp_path, vocab, capfd):
  records = [(f"r{i}", _jpeg(i), f"a red circle {i}", 40, 30)
             for i in range(5)]
  path = str(tmp_path / "flipped.tfrecord")
  _write_tfrecord(path, records)
  data = bytearray(open(path, "rb").read())
  sizes = [16 + len(shard_format.make_example(*r).SerializeToString())
           for r in records]
  data[sum(sizes[:2]) + 12 + 40] ^= 0x01  # A payload byte of record 2.
  with open(path, "wb") as f:
    f.write(data)
  texts, counts = _read_pass(_reader(path, vocab))
  # Records 2-4 are lost: counted exactly, from the shard's framing.
  assert texts == [f"a red circle {i}".encode() for i in (0, 1)]
  assert counts == _counts(unreadable_shard=3)
  assert (f"{path}: damaged at byte {sum(sizes[:2])} (3 records); the rest "
          "is skipped") in capfd.readouterr().err
  # Training repeats: the same count every pass.
  reader = _reader(path, vocab, is_training=True, batch_size=1, seed=1)
  batches = list(reader().take(4).as_numpy_iterator())
  assert len({b["text"][0] for b in batches}) == 2
  assert batches[-1]["skipped_records"][
      skip_counts.reason_index("unreadable_shard")] == 6


def test_cut_tar_is_one_unreadable_shard_with_its_path(tmp_path, vocab,
                                                       capfd):
  samples = [(f"{i:03d}", {"jpg": _jpeg(i), "txt": b"a red circle"})
             for i in range(4)]
  path = str(tmp_path / "cut.tar")
  _write_tar(path, samples)
  with tarfile.open(path) as tar:
    cut_at = tar.getmember("001.jpg").offset_data + 100  # Inside record 1.
  with open(path, "rb") as f:
    data = f.read()[:cut_at]
  with open(path, "wb") as f:
    f.write(data)
  texts, counts = _read_pass(_reader(path, vocab,
                                     shard_format_name="webdataset"))
  assert texts == [b"a red circle"]
  assert counts == _counts(unreadable_shard=1)
  assert f"{path}: damaged after 1 samples" in capfd.readouterr().err


def _iterate_with_deadline(iterable, seconds):
  """list(iterable), or a failure if it takes longer than `seconds`."""
  out, errors = [], []

  def run():
    try:
      out.extend(iterable)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  thread = threading.Thread(target=run, daemon=True)
  thread.start()
  thread.join(seconds)
  assert not thread.is_alive(), f"still iterating after {seconds} s"
  if errors:
    raise errors[0]
  return out


@pytest.mark.parametrize("fmt", ["tfrecord", "webdataset"])
def test_vanished_shard_is_counted_and_the_run_goes_on(tmp_path, vocab,
                                                       capfd, fmt):
  paths = []
  for s in range(3):
    path = str(tmp_path / (f"s{s}.tfrecord" if fmt == "tfrecord"
                           else f"s{s}.tar"))
    if fmt == "tfrecord":
      _write_tfrecord(path, [(f"{s}-{i}", _jpeg(i), f"caption {s} {i}",
                              40, 30) for i in range(2)])
    else:
      _write_tar(path, [(f"{s}-{i}", {"jpg": _jpeg(i),
                                      "txt": f"caption {s} {i}".encode()})
                        for i in range(2)])
    paths.append(path)
  pattern = str(tmp_path / ("*.tfrecord" if fmt == "tfrecord" else "*.tar"))
  finite = _reader(pattern, vocab, shard_format_name=fmt)
  training = _reader(pattern, vocab, shard_format_name=fmt,
                     is_training=True, batch_size=1, seed=0)
  os.remove(paths[1])  # After listing.
  batches = _iterate_with_deadline(finite().as_numpy_iterator(), 120)
  texts = sorted(t for b in batches for t in b["text"])
  assert texts == [b"caption 0 0", b"caption 0 1", b"caption 2 0",
                   b"caption 2 1"]
  assert skip_counts.skip_counts_to_dict(
      batches[-1]["skipped_records"]) == _counts(unreadable_shard=1)
  assert f"{paths[1]}: cannot be" in capfd.readouterr().err
  # Training: three passes go by (no busy loop), one count per pass.
  batches = _iterate_with_deadline(
      training().take(12).as_numpy_iterator(), 120)
  assert batches[-1]["skipped_records"][
      skip_counts.reason_index("unreadable_shard")] == 3
  # With every shard gone: one error after N in a row, within a pass.
  reader = _reader(pattern, vocab, shard_format_name=fmt, is_training=True,
                   max_unreadable_shards_in_a_row=2)
  for path in paths[::2]:
    os.remove(path)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"2 shards in a row could not be read .* The "
                     r"last: .*s[02]\.\w+: cannot be"):
    _iterate_with_deadline(reader().take(1).as_numpy_iterator(), 120)


def test_storage_error_that_persists_stops_the_reader_naming_the_shard(
    tmp_path, vocab, monkeypatch):
  from official.align.dataloaders import webdataset_shards  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / "s.tar")
  _write_tar(path, [("000", {"jpg": _jpeg(0), "txt": b"a red circle"})])

  def unavailable(name, mode="rb"):
    raise OSError(5, f"Input/output error reading {name} ({mode})")

  monkeypatch.setattr(webdataset_shards, "STORAGE_RETRY_SECONDS", (0.0, 0.0))
  monkeypatch.setattr(tf.io.gfile, "GFile", unavailable)
  reader = _reader(path, vocab, shard_format_name="webdataset")
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=rf"Cannot read {path}: storage error after 3 "
                     r"attempts \(OSError"):
    list(reader().as_numpy_iterator())


def test_build_vocab_skips_damaged_shards_and_counts_them(tmp_path):
  captions = ["a red circle", "a blue square", "red squares", "blue circles"]
  for name in ("good", "flipped", "cut"):
    _write_tfrecord(str(tmp_path / f"{name}.tfrecord"),
                    [(f"{name}{i}", b"x", c, None, None)
                     for i, c in enumerate(captions)])
  flipped = str(tmp_path / "flipped.tfrecord")
  data = bytearray(open(flipped, "rb").read())
  data[20] ^= 0x01  # Record 0's payload.
  open(flipped, "wb").write(bytes(data))
  cut = str(tmp_path / "cut.tfrecord")
  data = open(cut, "rb").read()
  open(cut, "wb").write(data[:len(data) - 10])  # Inside the last record.
  open(tmp_path / "vanished.tfrecord", "wb").close()
  skipped = collections.Counter()
  vocab = build_vocab.learn_vocab(
      str(tmp_path / "*.tfrecord"), vocab_size=100, skipped=skipped,
      learn_params={"lower_thresh": 1})
  assert {"red", "circle", "blue", "square"} <= set(vocab)
  # The 4 records of the flipped shard, the cut one; the empty shard: none.
  assert dict(skipped) == {"unreadable_shard": 5}


def test_image_bytes_signature_refuses_a_bomb(trained_demo_export):
  module = tf.saved_model.load(os.path.join(trained_demo_export.export_dir,
                                            "image_encoder"))
  serve = module.signatures["image_bytes"]
  ok = serve(image_bytes=tf.constant([_jpeg(0)]))["embeddings"]
  assert ok.shape[0] == 1
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"image_too_large: the image declares 20000 x "
                     r"20000 pixels \(1 frames\), above max_pixels = "
                     f"{image_headers.DEFAULT_MAX_PIXELS}"):
    serve(image_bytes=tf.constant([_jpeg(0), png_bomb()]))
