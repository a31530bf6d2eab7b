"""Cross-modal search end to end on an exported model, and query errors.

The model is the session fixture `trained_demo_export` (tests/trained_demo.py:
the tiny config trained briefly on the demo world, exported as TF-Hub
modules). Collections of image files (plus broken ones) and img2dataset
TFRecord shards (the demo world's eval shard plus a shard with broken
records) are indexed through the CLI's code path and queried.
"""
import io
import os
import zlib

from absl import flags
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.inference import queries
from official.align.inference import loaders
from official.align.search import __main__ as cli
from official.align.search import index as index_lib
from official.align.search import search_lib

NUM_IMAGES = 6


def _image_bytes(seed, fmt):
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, size=(20 + seed, 30, 3), dtype=np.uint8)
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, fmt)
  return buf.getvalue()


def _read_shard(path):
  """(keys, encoded images) of an img2dataset TFRecord shard."""
  keys, images = [], []
  for record in tf.data.TFRecordDataset(path):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    keys.append(feature["key"].bytes_list.value[0].decode())
    images.append(feature["jpg"].bytes_list.value[0])
  return keys, images


@pytest.fixture(scope="module")
def world(trained_demo_export, tmp_path_factory):
  """The export, image files (+ bad ones), shards (+ bad records)."""
  root = tmp_path_factory.mktemp("search")
  hub_dir = trained_demo_export.export_dir
  images_dir = root / "images"
  images_dir.mkdir()
  encoded = [_image_bytes(i, "PNG" if i % 2 else "JPEG")
             for i in range(NUM_IMAGES)]
  paths = []
  for i, data in enumerate(encoded):
    path = images_dir / f"img{i}.{'png' if i % 2 else 'jpg'}"
    path.write_bytes(data)
    paths.append(str(path))
  (images_dir / "corrupt.jpg").write_bytes(encoded[0][:40])  # Truncated.
  (images_dir / "notes.png").write_bytes(b"not an image")
  eval_shard = os.path.join(trained_demo_export.world_dir,
                            "eval-00000-of-00001.tfrecord")
  shard_keys, shard_images = _read_shard(eval_shard)
  bad_shard = str(root / "bad-00000.tfrecord")
  with tf.io.TFRecordWriter(bad_shard) as writer:
    writer.write(shard_format.make_example(
        "noimage", None, "caption").SerializeToString())
    writer.write(shard_format.make_example(
        "gif-like", b"GIF89a" + b"\0" * 20, "caption").SerializeToString())
    writer.write(shard_format.make_example(
        "extra", encoded[1], "caption").SerializeToString())
  embedder = loaders.from_hub_dir(hub_dir)
  # Shards are read in sorted path order.
  in_order = sorted([(eval_shard, shard_keys, shard_images),
                     (bad_shard, ["extra"], [encoded[1]])])
  return dict(
      root=root, hub_dir=hub_dir, paths=paths, encoded=encoded,
      images_dir=str(images_dir), embedder=embedder,
      expected=embedder.embed_image_files(paths),
      shards=f"{eval_shard},{bad_shard}",
      shard_keys=[k for _, keys, _ in in_order for k in keys],
      shard_expected=embedder.embed_image_bytes(
          [b for _, _, images in in_order for b in images]))


def _run_cli(*args):
  """Runs the CLI in-process; returns (exit message or None)."""
  flags.FLAGS.unparse_flags()
  argv = flags.FLAGS(["search"] + list(args))
  try:
    cli.main(argv)
  except SystemExit as e:
    return str(e.code)
  return None


def test_build_from_image_files_skips_bad_files(world):
  index = search_lib.build_index(world["embedder"],
                                 os.path.join(world["images_dir"], "*"))
  assert index.ids == world["paths"]
  assert index.kind == "brute_force"
  np.testing.assert_allclose(index.embeddings, world["expected"], atol=1e-5)
  assert index.metadata["skipped"] == {"unknown_image_format": 1,
                                       "decode_error": 1}
  # An image of the collection is its own nearest neighbour.
  results = search_lib.search(index, world["embedder"],
                              image=world["paths"][3], top_k=2)
  assert results[0][0] == world["paths"][3]
  assert results[0][1] == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def shard_index(world):
  """Index of the TFRecord shards built through the CLI."""
  index_dir = str(world["root"] / "shard_index")
  assert _run_cli("build", f"--hub_dir={world['hub_dir']}",
                  f"--images={world['shards']}",
                  f"--index_dir={index_dir}") is None
  return index_dir


def test_build_from_tfrecord_shards_and_cli_search(world, shard_index,
                                                   capsys):
  index = index_lib.SearchIndex.load(shard_index)
  assert index.ids == world["shard_keys"]
  np.testing.assert_allclose(index.embeddings, world["shard_expected"],
                             atol=1e-5)
  assert index.metadata["skipped"] == {"missing_feature": 1,
                                       "zero_size_image": 1}
  assert index.metadata["model_source"] == {"hub_dir": world["hub_dir"]}

  # Search with the model recorded in the index (opt-in), text + image.
  capsys.readouterr()
  assert _run_cli("search", f"--index_dir={shard_index}", "--use_index_model",
                  "--text",
                  "a red circle", f"--image={world['paths'][2]}",
                  "--image_weight=1", "--text_weight=-0.5",
                  "--top_k=3") is None
  captured = capsys.readouterr()
  assert f"Loading the model hub_dir={world['hub_dir']}" in captured.err
  lines = captured.out.strip().splitlines()
  query = queries.combine_queries(
      world["embedder"].embed_image_files([world["paths"][2]])[0],
      world["embedder"].embed_texts(["a red circle"])[0], 1.0, -0.5)
  scores = world["shard_expected"] @ query
  score_of = dict(zip(world["shard_keys"], scores))
  printed = [(line.split()[2], float(line.split()[1])) for line in lines]
  assert len(printed) == 3
  # The best three scores, each printed with its own item (demo images can
  # repeat, so tied items may come in either order).
  np.testing.assert_allclose([p[1] for p in printed],
                             np.sort(scores)[::-1][:3], atol=1e-3)
  np.testing.assert_allclose([score_of[p[0]] for p in printed],
                             [p[1] for p in printed], atol=1e-3)


def test_cli_errors(world, shard_index, tmp_path):
  index_dir = shard_index
  hub = f"--hub_dir={world['hub_dir']}"
  images = f"--images={world['images_dir']}"
  assert "already exists" in _run_cli("build", hub, images,
                                      f"--index_dir={index_dir}")
  assert "No files match" in _run_cli(
      "build", hub, f"--images={tmp_path}/none-*.jpg",
      f"--index_dir={tmp_path / 'other'}")
  assert not os.path.exists(tmp_path / "other")
  search = ("search", f"--index_dir={index_dir}")
  assert "query text is empty" in _run_cli(*search, "--text=  ")
  assert "Query image not found" in _run_cli(*search, "--image=/no/such.jpg")
  assert "No search index directory" in _run_cli(
      "search", f"--index_dir={tmp_path / 'missing'}", "--text=a")
  (tmp_path / "half").mkdir()
  assert "not a complete search index" in _run_cli(
      "search", f"--index_dir={tmp_path / 'half'}", "--text=a")
  assert "Export directory not found" in _run_cli(
      *search, "--text=a", f"--hub_dir={tmp_path / 'nohub'}")


def test_query_errors_and_embed_dim_mismatch(world, tmp_path):
  embedder = world["embedder"]
  index = index_lib.SearchIndex.build(world["expected"], world["paths"],
                                      metadata={"model": "tiny"})
  with pytest.raises(ValueError, match="text is empty"):
    search_lib.search(index, embedder, text="")
  with pytest.raises(ValueError, match="text, an image, or both"):
    search_lib.search(index, embedder)
  with pytest.raises(FileNotFoundError, match="no/such.png"):
    search_lib.search(index, embedder, text="red", image="/no/such.png")
  with pytest.raises(FileNotFoundError, match="not found"):
    search_lib.search(index, embedder, image=str(tmp_path))
  with pytest.raises(ValueError, match="Cannot decode"):
    search_lib.search(index, embedder,
                      image=os.path.join(world["images_dir"], "corrupt.jpg"))
  with pytest.raises(ValueError, match="both 0"):
    search_lib.search(index, embedder, text="red", image=world["paths"][0],
                      image_weight=0, text_weight=0)
  dim = embedder.embed_dim + 8
  other = index_lib.SearchIndex.build(
      np.random.default_rng(0).standard_normal((4, dim)), list("abcd"),
      metadata={"model": "hub/B7"})
  other.save(str(tmp_path / "b7"))
  with pytest.raises(ValueError, match=rf"{dim}-d .*hub/B7.* {dim - 8}-d"):
    search_lib.load_index(str(tmp_path / "b7"), embedder)
  with pytest.raises(ValueError, match=rf"{dim}-d"):
    search_lib.search(other, embedder, text="red")


def test_help_lists_the_flags():
  text = flags.FLAGS.module_help(cli)
  for name in ("--index_dir", "--hub_dir", "--model_dir", "--images",
               "--images_format", "--index_kind", "--text", "--image",
               "--image_weight", "--text_weight", "--top_k", "--[no]exact"):
    assert name in text, name


def test_build_skips_damaged_shards_and_bombs(world, tmp_path):
  """`search build` over framing damage and a decompression bomb: each
  costs a count in the manifest; every other record is indexed."""
  eval_shard = world["shards"].split(",")[0]
  keys, images = _read_shard(eval_shard)
  records = [r.numpy() for r in tf.data.TFRecordDataset(eval_shard)][:6]
  offsets = np.cumsum([0] + [16 + len(r) for r in records])
  with open(eval_shard, "rb") as f:
    data = f.read()[:offsets[-1]]  # The shard's first 6 records.
  flipped = bytearray(data)
  flipped[offsets[2] + 12 + 30] ^= 0x01  # A payload byte of record 2.
  (tmp_path / "a-flipped.tfrecord").write_bytes(bytes(flipped))
  (tmp_path / "b-cut.tfrecord").write_bytes(data[:offsets[5] + 40])
  side = 20000  # A valid 1-bit PNG declaring side x side pixels (~50 KB).
  row = b"\0" * (1 + side // 8)
  compressor = zlib.compressobj(9)
  idat = b"".join(compressor.compress(row * 500) for _ in range(side // 500))
  idat += compressor.flush()
  chunk = lambda kind, body: (len(body).to_bytes(4, "big") + kind + body +
                              zlib.crc32(kind + body).to_bytes(4, "big"))
  bomb = (b"\x89PNG\r\n\x1a\n" +
          chunk(b"IHDR", side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0]))
          + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
  with tf.io.TFRecordWriter(str(tmp_path / "c-bomb.tfrecord")) as writer:
    writer.write(shard_format.make_example("bomb", bomb, "caption", 40, 30)
                 .SerializeToString())
    writer.write(shard_format.make_example("fine", images[0], "caption")
                 .SerializeToString())
  index = search_lib.build_index(world["embedder"],
                                 str(tmp_path / "*.tfrecord"))
  # Records 2-5 of the flipped shard, record 5 of the cut one: counted.
  assert index.ids == keys[:2] + keys[:5] + ["fine"]
  assert index.metadata["skipped"] == {"unreadable_shard": 5,
                                       "image_too_large": 1}
