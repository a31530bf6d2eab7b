"""The Beam embedding pipeline on the trained demo export, against the
single-process `search build`; resuming, a SIGKILL, the DirectRunner's
multi_processing mode; a sharded index of its shards on the CLI and page.

The model is the session fixture `trained_demo_export`. The collection: two
img2dataset TFRecord shards of the fixture world's eval images, one with a
record of each kind `search build` skips, and a folder of image files with
img2dataset's `.txt` captions beside some of them.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from official.align.dataloaders import shard_format
from official.align.inference import loaders
from official.align.search import __main__ as cli
from official.align.search import embed_pipeline
from official.align.search import embedding_shards
from official.align.search import index as index_lib
from official.align.search import page_search
from official.align.search import search_lib
from official.align.search import sharded_index

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IN_PROCESS = ["--runner=DirectRunner", "--direct_num_workers=1",
              "--direct_running_mode=in_memory"]
# What `search build` skips in the bad shard, per reason.
SHARD_SKIPS = {"decode_error": 1, "malformed_record": 1,
               "missing_feature": 1, "unknown_image_format": 1,
               "zero_size_image": 1}
FILE_SKIPS = {"decode_error": 1, "unknown_image_format": 1}


def _options(args=IN_PROCESS):
  return embed_pipeline.PipelineOptions(args)


def _eval_records(world_dir):
  """(key, jpeg, caption) of the fixture world's eval images."""
  rows = []
  path = os.path.join(world_dir, "eval-00000-of-00001.tfrecord")
  for record in tf.data.TFRecordDataset(path):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    rows.append((feature["key"].bytes_list.value[0].decode(),
                 feature["jpg"].bytes_list.value[0],
                 feature["txt"].bytes_list.value[0].decode()))
  return rows


@pytest.fixture(scope="module")
def collection(trained_demo_export, tmp_path_factory):
  root = tmp_path_factory.mktemp("embed")
  rows = _eval_records(trained_demo_export.world_dir)
  shards = root / "shards"
  shards.mkdir()

  def example(key, image, text="a caption"):
    return shard_format.make_example(key, image, text).SerializeToString()

  with tf.io.TFRecordWriter(str(shards / "a-00000.tfrecord")) as w:
    for key, jpeg, text in rows[:40]:
      w.write(example(key, jpeg, text))
  with tf.io.TFRecordWriter(str(shards / "b-00001.tfrecord")) as w:
    for key, jpeg, text in rows[40:70]:
      w.write(example(key, jpeg, text))
    w.write(example("truncated", rows[0][1][:60]))   # decode_error
    w.write(b"not a tf.train.Example")               # malformed_record
    w.write(example("no-image", None))               # missing_feature
    w.write(example("text-file", b"plain text"))     # unknown_image_format
    w.write(example("empty", b""))                   # zero_size_image
  files = root / "files"
  files.mkdir()
  for i, (key, jpeg, text) in enumerate(rows[70:75]):
    (files / f"{key}.jpg").write_bytes(jpeg)
    if i % 2 == 0:
      (files / f"{key}.txt").write_text(text)
  (files / "truncated.jpg").write_bytes(rows[0][1][:60])
  (files / "notes.png").write_bytes(b"not an image")
  return dict(root=root, rows=rows, hub_dir=trained_demo_export.export_dir,
              shards=str(shards / "*.tfrecord"), files=str(files),
              embedder=loaders.from_hub_dir(trained_demo_export.export_dir))


@pytest.fixture(scope="module")
def embedded(collection):
  """The shards embedded in-process (module scope: several tests read it)."""
  output_dir = str(collection["root"] / "embedded")
  manifest = embed_pipeline.run(collection["shards"], collection["hub_dir"],
                                output_dir, pipeline_options=_options())
  return output_dir, manifest


def _read_all(output_dir):
  """id → (embedding, caption, source) over the manifest's shards."""
  manifest = embedding_shards.read_manifest(output_dir)
  out = {}
  for entry in manifest["shards"]:
    shard = embedding_shards.read_listed_shard(output_dir, entry,
                                               manifest["embed_dim"])
    for item in zip(shard["ids"], shard["embeddings"], shard["captions"],
                    shard["sources"]):
      out[item[0]] = item[1:]
  return manifest, out


def test_embeddings_equal_search_build(collection, embedded):
  output_dir, manifest = embedded
  single, ids, skipped = search_lib.embed_collection(
      collection["embedder"], collection["shards"])
  assert manifest["skipped"] == skipped == SHARD_SKIPS
  manifest, rows = _read_all(output_dir)
  assert sorted(rows) == sorted(ids) and len(ids) == 70
  diff = max(np.max(np.abs(rows[i][0] - e)) for i, e in zip(ids, single))
  assert diff <= 1e-5, diff
  captions = {key: text for key, _, text in collection["rows"]}
  assert all(rows[i][1] == captions[i] for i in ids)
  assert {rows[i][2] for i in ids} == {
      os.path.join(os.path.dirname(collection["shards"]), name)
      for name in ("a-00000.tfrecord", "b-00001.tfrecord")}
  assert (manifest["count"], manifest["embed_dim"], manifest["dtype"]) == (
      70, single.shape[1], "float32")
  assert [s["skipped"] for s in manifest["shards"]] == [{}, SHARD_SKIPS]
  assert sorted(os.listdir(output_dir)) == sorted(
      [s["name"] for s in manifest["shards"]]
      + [s["name"].replace(".npz", ".json") for s in manifest["shards"]]
      + ["manifest.json"])


def test_image_files_in_float16(collection, tmp_path):
  manifest = embed_pipeline.run(
      collection["files"], collection["hub_dir"], str(tmp_path / "out"),
      dtype="float16", files_per_shard=3, pipeline_options=_options())
  single, ids, skipped = search_lib.embed_collection(collection["embedder"],
                                                     collection["files"])
  assert manifest["skipped"] == skipped == FILE_SKIPS
  assert len(manifest["shards"]) == 3  # 7 files, 3 per unit.
  _, rows = _read_all(str(tmp_path / "out"))
  assert sorted(rows) == sorted(ids) and len(ids) == 5
  for item_id, expected in zip(ids, single):
    embedding, caption, source = rows[item_id]
    assert embedding.dtype == np.float16 and source == item_id
    # float16 keeps 11 significant bits: |x| <= 1 rounds by <= 2^-11.
    assert np.max(np.abs(embedding.astype(np.float32) - expected)) <= 2**-11
  captions = {key: text for key, _, text in collection["rows"][70:75:2]}
  assert {os.path.basename(i)[:-4]: c for i, (_, c, _) in rows.items() if c
          } == captions


def _without_digests(manifest):
  """A manifest without the shards' sha256: another run may batch images
  differently, which moves embeddings by float32 rounding."""
  return dict(manifest, shards=[
      {k: v for k, v in s.items() if k != "sha256"}
      for s in manifest["shards"]])


def test_multi_processing_equals_in_process(collection, embedded, tmp_path):
  output_dir, manifest = embedded
  other = embed_pipeline.run(
      collection["shards"], collection["hub_dir"], str(tmp_path / "out"),
      pipeline_options=_options([
          "--runner=DirectRunner", "--direct_num_workers=2",
          "--direct_running_mode=multi_processing"]))
  # Same shards, inputs, counts, bytes and skips.
  assert _without_digests(other) == _without_digests(manifest)
  for name in [s["name"] for s in manifest["shards"]]:
    a = embedding_shards.read_shard_file(os.path.join(output_dir, name))
    b = embedding_shards.read_shard_file(str(tmp_path / "out" / name))
    assert (a["ids"], a["captions"], a["sources"]) == (
        b["ids"], b["captions"], b["sources"])
    # Workers batch images differently (a batch with an undecodable image
    # is embedded one by one), and convolutions round differently at
    # another batch size: equal to float32 rounding, not bit for bit.
    np.testing.assert_allclose(a["embeddings"], b["embeddings"], rtol=0,
                               atol=1e-5)


def test_rerun_embeds_only_missing_units(collection, embedded, tmp_path):
  output_dir, manifest = embedded
  copy = str(tmp_path / "copy")
  shutil.copytree(output_dir, copy)
  again = embed_pipeline.run(collection["shards"], collection["hub_dir"],
                             copy, pipeline_options=_options())
  assert again["embedded_this_run"] == 0
  second = manifest["shards"][1]["name"]
  os.remove(os.path.join(copy, second.replace(".npz", ".json")))
  again = embed_pipeline.run(collection["shards"], collection["hub_dir"],
                             copy, pipeline_options=_options())
  assert again["embedded_this_run"] == 1
  assert _without_digests(dict(again, embedded_this_run=2)) == (
      _without_digests(manifest))
  assert again["shards"][0]["sha256"] == manifest["shards"][0]["sha256"]
  with pytest.raises(ValueError, match=r"holds embeddings of .* \(float32\),"
                     r" not .* \(float16\)"):
    embed_pipeline.run(collection["shards"], collection["hub_dir"], copy,
                       dtype="float16", pipeline_options=_options())


def test_sigkill_leaves_no_partial_shard_and_the_rerun_completes(
    collection, embedded, tmp_path):
  _, manifest = embedded
  output_dir = str(tmp_path / "out")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("PYTHONPATH", None)
  proc = subprocess.run(
      [sys.executable, os.path.join(HERE, "embed_worker.py"), "embed",
       f"--hub_dir={collection['hub_dir']}",
       f"--images={collection['shards']}", f"--output_dir={output_dir}"]
      + IN_PROCESS[1:], cwd=REPO, env=env, capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  assert "Planned SIGKILL" in proc.stdout
  left = sorted(os.listdir(output_dir))
  # One shard in place, its summary still staged; no manifest.
  shards = [n for n in left if n.endswith(".npz")]
  assert len(shards) == 1 and not any(n.endswith(".json") for n in left)
  assert all(n in shards or ".tmp-" in n for n in left), left
  shard = embedding_shards.read_shard_file(os.path.join(output_dir,
                                                        shards[0]))
  assert len(shard["ids"]) in (40, 30)  # Complete: a whole unit.
  with pytest.raises(embedding_shards.EmbeddingShardError,
                     match="not a complete embeddings directory"):
    sharded_index.build_from_embedding_shards(output_dir,
                                              str(tmp_path / "index"))
  again = embed_pipeline.run(collection["shards"], collection["hub_dir"],
                             output_dir, pipeline_options=_options())
  assert _without_digests(again) == _without_digests(manifest)
  assert not [n for n in os.listdir(output_dir) if ".tmp-" in n]


def _run_cli(*args):
  """The search CLI in-process; the exit message or None."""
  flags.FLAGS.unparse_flags()
  try:
    cli.main(flags.FLAGS(["search"] + list(args)))
  except SystemExit as e:
    return str(e.code)
  return None


def test_sharded_index_on_the_cli_and_the_page(collection, embedded,
                                               tmp_path, capsys):
  output_dir, manifest = embedded
  index_dir = str(tmp_path / "index")
  assert _run_cli("build", f"--embeddings={output_dir}",
                  f"--index_dir={index_dir}", "--vectors_per_shard=30") is None
  assert "Indexed 70 images in 2 shards (brute_force" in capsys.readouterr(
  ).out
  _, rows = _read_all(output_dir)
  ids = sorted(rows)
  single = index_lib.SearchIndex.build(np.stack([rows[i][0] for i in ids]),
                                       ids, kind="brute_force")
  embedder = collection["embedder"]

  index = page_search.open_index(index_dir)
  assert isinstance(index, sharded_index.ShardedIndex)
  assert index.metadata["model_source"] == {"hub_dir": collection["hub_dir"]}
  page = page_search.SearchPage(index, embedder)
  query = page_search.Query(text="a blue circle", top_k=8)
  got = page.search(query)["results"]
  expected = single.search(page.query_embedding(query), top_k=8)[0]
  assert [(r["id"], r["score"]) for r in got] == [
      (i, round(s, 6)) for i, s in expected]
  # A click on a result searches with that item's stored embedding.
  clicked = page.search(page_search.Query(image_id=got[3]["id"],
                                          image_weight=1, text_weight=0))
  assert clicked["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)
  assert page.info()["count"] == 70 and page.info()["kind"] == "sharded"

  capsys.readouterr()
  assert _run_cli("search", f"--index_dir={index_dir}",
                  f"--hub_dir={collection['hub_dir']}", "--text=a blue circle",
                  "--top_k=3", "--json") is None
  printed = [json.loads(line) for line in
             capsys.readouterr().out.strip().splitlines()]
  assert [p["id"] for p in printed] == [i for i, _ in expected[:3]]
