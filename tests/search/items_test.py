"""`items`: thumbnails and captions by item id, from files and shards.

No model: small images made here, a TFRecord shard written with
`shard_format.make_example` and a webdataset tar written by webdataset's own
`TarWriter`.
"""
import io

from PIL import Image
import tensorflow as tf
import webdataset as wds

from official.align.dataloaders import shard_format
from official.align.search import items


def _jpeg(size, colour=(200, 40, 40)):
  out = io.BytesIO()
  Image.new("RGB", size, colour).save(out, "JPEG")
  return out.getvalue()


def _size(thumbnail):
  with Image.open(io.BytesIO(thumbnail)) as picture:
    assert picture.format == "JPEG"
    return picture.size


def test_make_thumbnail_shrinks_keeps_aspect_never_enlarges():
  assert _size(items.make_thumbnail(_jpeg((400, 100)), 128)) == (128, 32)
  assert _size(items.make_thumbnail(_jpeg((30, 20)), 128)) == (30, 20)
  out = io.BytesIO()
  Image.new("RGBA", (64, 64)).save(out, "PNG")  # Alpha: converted to RGB.
  assert _size(items.make_thumbnail(out.getvalue(), 16)) == (16, 16)
  assert items.make_thumbnail(b"not an image", 128) is None
  assert items.make_thumbnail(_jpeg((64, 64))[:100], 128) is None


def test_tfrecord_shard_items_by_id(tmp_path):
  shard = str(tmp_path / "items-00000.tfrecord")
  with tf.io.TFRecordWriter(shard) as writer:
    for example in (
        shard_format.make_example("a", _jpeg((200, 100)), "a red rectangle"),
        shard_format.make_example("b", _jpeg((50, 50)), None),  # No caption.
        shard_format.make_example("noimage", None, "no image"),
        shard_format.make_example("", _jpeg((20, 20)), "keyless"),
        shard_format.make_example("unindexed", _jpeg((20, 20)), "other")):
      writer.write(example.SerializeToString())
    writer.write(b"not a tf.train.Example")
  keyless = f"{shard}:3"
  store = items.ItemStore.from_collection(
      str(tmp_path / "*.tfrecord"), "auto", ["a", "b", keyless, "noimage"],
      max_side=64)
  assert len(store) == 3
  assert _size(store.thumbnail("a")) == (64, 32)
  assert store.caption("a") == "a red rectangle"
  assert store.thumbnail("b") is not None and store.caption("b") is None
  assert store.caption(keyless) == "keyless"
  assert store.thumbnail("noimage") is None
  for other in ("unindexed", "../a", shard, "/etc/passwd", ""):
    assert store.thumbnail(other) is None and store.caption(other) is None


def test_webdataset_tar_items_by_id(tmp_path):
  shard = str(tmp_path / "items-00000.tar")
  with wds.TarWriter(shard) as sink:
    sink.write({"__key__": "000", "jpg": _jpeg((90, 60)),
                "txt": "a blue circle"})
    sink.write({"__key__": "001", "txt": "caption without image"})
  store = items.ItemStore.from_collection(shard, "auto", ["000", "001"])
  assert _size(store.thumbnail("000")) == (90, 60)
  assert store.caption("000") == "a blue circle"
  assert store.thumbnail("001") is None


def test_missing_collection_gives_no_items(tmp_path):
  for spec in (None, str(tmp_path / "nothing-*.tfrecord")):
    store = items.ItemStore.from_collection(spec, "auto", ["a"])
    assert len(store) == 0 and store.thumbnail("a") is None
