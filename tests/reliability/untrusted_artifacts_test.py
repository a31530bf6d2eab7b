"""Untrusted artifacts never run code; no command deletes what it reads.

Issue 20, row by row, through the public entry points: search indexes
(`SearchIndex.load`, the search CLI), run-dir gin configs (`train.py`,
`export_lib.export`, `loaders.from_model_dir`), export bindings
(`export_tfhub.py`), Hugging Face snapshots (`hf_align.convert`,
`convert_hf_checkpoint.py`), Karpathy JSON (`karpathy.load_karpathy`,
`retrieval_eval`) and replacing an output (`SearchIndex.save`). Payloads
try to create a marker file; the tests check that it never appears, that
errors are one line, and that inputs survive. The four CLI launches run in
parallel in one module fixture (they fail before any model is built).
"""
import json
import os
import pickle
import subprocess
import sys

from absl import flags
import numpy as np
import pytest

from official.align import run_dir_config
from official.align.checkpoints import hf_align
from official.align.inference import loaders
from official.align.evaluation import karpathy
from official.align.search import __main__ as search_cli
from official.align.search import index as index_lib
from official.align.search import index_files
from official.align.serving import export_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TINY_GIN = os.path.join(REPO, "configs", "tiny.gin")


class _CreatesFile:
  """Unpickling this calls `open(path, "w")`: creates the marker file."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, "w"))


def _one_line(message: str) -> str:
  message = str(message).strip()
  assert "\n" not in message and "Traceback" not in message, message
  return message


# Run dirs, snapshots, JSON: written once, used by the CLI launches too.


def _payload_gin(marker) -> str:
  return ("from __gin__ import dynamic_registration\n"
          "import subprocess\n"
          f"subprocess.getoutput.cmd = 'touch {marker}'\n"
          "build_strategy.tpu = @subprocess.getoutput()\n")


def _tiny_model_dir(root, name="model") -> str:
  """A run dir with the tiny config as operative config (no checkpoint)."""
  model_dir = os.path.join(root, name)
  os.makedirs(os.path.join(model_dir, "checkpoints"))
  with open(TINY_GIN) as f:
    config = f.read()
  vocab = os.path.join(model_dir, "vocab.txt")
  with open(vocab, "w") as f:
    f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n")
  with open(os.path.join(model_dir, export_lib.OPERATIVE_CONFIG), "w") as f:
    f.write(config + f"\nPreprocessing.vocab_file = '{vocab}'\n")
  for name_ in ("checkpoints/ckpt-1.index", "results.json"):
    with open(os.path.join(model_dir, name_), "w") as f:
      f.write("keep me")
  return model_dir


def _hf_snapshot(root, name="hf", **config) -> str:
  """A snapshot dir with config.json (align-base defaults) and a vocab."""
  hf_dir = os.path.join(root, name)
  os.makedirs(hf_dir)
  with open(os.path.join(hf_dir, "config.json"), "w") as f:
    json.dump(dict(model_type="align", **config), f)
  with open(os.path.join(hf_dir, "vocab.txt"), "w") as f:
    f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
  return hf_dir


def _karpathy(root, images) -> tuple:
  image_dir = os.path.join(root, "images")
  os.makedirs(image_dir, exist_ok=True)
  with open(os.path.join(image_dir, "a.jpg"), "wb") as f:
    f.write(b"not decoded here")
  path = os.path.join(root, f"karpathy-{abs(hash(str(images)))}.json")
  with open(path, "w") as f:
    json.dump({"images": images}, f)
  return path, image_dir


def _good_entry(**changes):
  entry = {"filename": "a.jpg", "split": "test",
           "sentences": [{"raw": "a photo"}]}
  entry.update(changes)
  return entry


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
  """Launches the four CLIs in parallel; {name: (CompletedProcess-like)}."""
  root = str(tmp_path_factory.mktemp("cli"))
  markers = {}
  commands = {}
  # train.py reading a run dir's operative config holding a shell payload.
  run_dir = os.path.join(root, "run")
  os.makedirs(run_dir)
  markers["train"] = os.path.join(root, "train-marker")
  with open(os.path.join(run_dir, "operative_config.gin"), "w") as f:
    f.write(_payload_gin(markers["train"]))
  commands["train"] = [
      "official/align/train.py",
      f"--gin_file={run_dir}/operative_config.gin", f"--model_dir={run_dir}"]
  # export_tfhub.py with a misspelt configurable in --gin_bindings.
  model_dir = _tiny_model_dir(root)
  commands["export"] = [
      "export/export_tfhub.py", f"--model_dir={model_dir}",
      f"--export_dir={root}/export",
      "--gin_bindings=InputReadr.resize_size = 320"]
  # convert_hf_checkpoint.py on a pytorch_model.bin whose pickle runs code.
  hf_dir = _hf_snapshot(root)
  markers["convert"] = os.path.join(root, "convert-marker")
  with open(os.path.join(hf_dir, "pytorch_model.bin"), "wb") as f:
    pickle.dump({"w": _CreatesFile(markers["convert"])}, f)
  commands["convert"] = ["export/convert_hf_checkpoint.py",
                         f"--hf_dir={hf_dir}", f"--model_dir={root}/conv"]
  # retrieval_eval on a Karpathy JSON leading out of --image_dir, with a
  # model that does not exist: the JSON must fail first.
  json_path, image_dir = _karpathy(root, [_good_entry(filename="../x.jpg")])
  commands["retrieval"] = [
      "-m", "official.align.evaluation.retrieval_eval",
      f"--hub_dir={root}/no_such_export", f"--karpathy_json={json_path}",
      f"--image_dir={image_dir}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("PYTHONPATH", None)
  procs = {name: subprocess.Popen(
      [sys.executable] + args, cwd=REPO, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for name, args in commands.items()}
  results = {}
  for name, proc in procs.items():
    out, err = proc.communicate(timeout=600)
    results[name] = (proc.returncode, out, err)
  return dict(results=results, markers=markers, model_dir=model_dir,
              hf_dir=hf_dir, root=root)


def _error_line(result, prefix):
  returncode, _, stderr = result
  assert returncode == 1, stderr[-2000:]
  last = stderr.strip().splitlines()[-1]
  assert last.startswith(prefix), stderr[-2000:]
  assert "Traceback" not in stderr, stderr[-2000:]
  return last


# Search indexes.


@pytest.fixture(scope="module")
def scann_index():
  rng = np.random.default_rng(0)
  embeddings = rng.standard_normal((300, 16)).astype(np.float32)
  return index_lib.SearchIndex.build(
      embeddings, [f"item-{i}" for i in range(300)], kind="scann",
      scann_config=index_lib.ScannConfig(num_leaves=4, leaves_to_search=2,
                                         reorder_num_neighbors=20),
      metadata={"model": "unit-test", "model_source": {"hub_dir": "x"}})


def _rehash(index_dir):
  """Makes the manifest list the files as they are now (an attacker can)."""
  path = os.path.join(index_dir, index_lib.MANIFEST)
  with open(path) as f:
    manifest = json.load(f)
  manifest["files"] = {
      name: index_files.sha256(os.path.join(index_dir, name))
      for name in index_files.files_under(index_dir)}
  with open(path, "w") as f:
    json.dump(manifest, f)


def _search_cli_error(*args) -> str:
  """The exit message of the search CLI, run in-process (it must fail)."""
  flags.FLAGS.unparse_flags()
  with pytest.raises(SystemExit) as exit_:
    search_cli.main(flags.FLAGS(["search", *args]))
  return str(exit_.value.code)


@pytest.mark.parametrize("rehash", [False, True])
def test_index_with_an_unlisted_pickle_is_refused_and_never_unpickled(
    tmp_path, scann_index, rehash):
  index_dir = str(tmp_path / "index")
  scann_index.save(index_dir)
  marker = tmp_path / "marker"
  with open(os.path.join(index_dir, "scann", "scann_docids.pkl"), "wb") as f:
    pickle.dump(_CreatesFile(str(marker)), f)
  if rehash:  # Listed in the manifest too: ScaNN's own loader would run it.
    _rehash(index_dir)
  message = _search_cli_error("search", f"--index_dir={index_dir}", "--text=a",
                            f"--hub_dir={tmp_path}/unused")
  assert _one_line(message).startswith("search: error: ")
  assert "scann/scann_docids.pkl" in message
  assert ("not one of the ScaNN searcher's assets" if rehash
          else "does not list") in message
  assert not marker.exists()


def _tamper(index_dir, what):
  embeddings_path = os.path.join(index_dir, index_lib.EMBEDDINGS)
  manifest_path = os.path.join(index_dir, index_lib.MANIFEST)
  with open(manifest_path) as f:
    manifest = json.load(f)
  embeddings = np.load(embeddings_path)
  if what == "nan":
    embeddings[3, 0] = np.nan
    np.save(embeddings_path, embeddings)
  elif what in ("float64", "int8"):
    np.save(embeddings_path, (embeddings * 100).astype(what))
  elif what == "not unit":
    np.save(embeddings_path, embeddings * 12.65)
  elif what == "ids dict":
    with open(os.path.join(index_dir, index_lib.IDS), "w") as f:
      json.dump({str(i): i for i in range(len(embeddings))}, f)
  elif what == "asset outside":
    assets = os.path.join(index_dir, "scann", "scann_assets.pbtxt")
    with open(assets) as f:
      text = f.read().replace('"dataset.npy"', '"../../../etc/passwd"')
    with open(assets, "w") as f:
      f.write(text)
  elif what == "scann config":
    from scann.proto import scann_pb2  # pylint: disable=g-import-not-at-top
    path = os.path.join(index_dir, "scann", "scann_config.pb")
    config = scann_pb2.ScannConfig()
    with open(path, "rb") as f:
      config.ParseFromString(f.read())
    config.partitioning.partitioner_prefix = "/etc/passwd"
    with open(path, "wb") as f:
      f.write(config.SerializeToString())
  _rehash(index_dir)
  with open(manifest_path) as f:
    manifest = json.load(f)
  if what == "manifest list":
    manifest = [manifest]
  elif what == "no scann_config":
    del manifest["scann_config"]
  elif what == "checksum":
    manifest["files"][index_lib.IDS] = "0" * 64
  with open(manifest_path, "w") as f:
    json.dump(manifest, f)


@pytest.mark.parametrize("what, message", [
    ("nan", "not finite unit vectors"),
    ("float64", "must be float32, found float64"),
    ("int8", "must be float32, found int8"),
    ("not unit", "not finite unit vectors"),
    ("ids dict", "found embeddings.npy of shape"),
    ("manifest list", "must hold a JSON object, found list"),
    ("no scann_config", "needs scann_config"),
    ("checksum", "ids.json: sha256 differs"),
    ("asset outside", "'../../../etc/passwd' is not a file of"),
    ("scann config", "not the ScaNN config"),
])
def test_tampered_index_is_refused_in_one_line(tmp_path, scann_index, what,
                                               message):
  index_dir = str(tmp_path / "index")
  scann_index.save(index_dir)
  index_lib.SearchIndex.load(index_dir)  # Untampered: loads.
  _tamper(index_dir, what)
  with pytest.raises(index_lib.SearchIndexError) as error:
    index_lib.SearchIndex.load(index_dir)
  assert message in _one_line(error.value)


def test_search_loads_the_model_an_index_names_only_on_request(
    tmp_path, scann_index, monkeypatch, capsys):
  index_dir = str(tmp_path / "index")
  scann_index.save(index_dir)
  loaded = []

  def fake_load(**source):
    loaded.append(source)
    raise ValueError("stopped before running the model")

  monkeypatch.setattr(loaders, "load", fake_load)
  search_cli._EMBEDDERS.clear()  # pylint: disable=protected-access
  message = _search_cli_error("search", f"--index_dir={index_dir}", "--text=a")
  assert "Give --hub_dir or --model_dir" in _one_line(message)
  assert "--use_index_model" in message and loaded == []
  capsys.readouterr()
  message = _search_cli_error("search", f"--index_dir={index_dir}", "--text=a",
                            "--use_index_model")
  assert "stopped before running the model" in message
  assert loaded[0]["hub_dir"] == "x"
  assert "Loading the model hub_dir=x" in capsys.readouterr().err


def test_failed_index_replace_keeps_the_old_index(tmp_path, scann_index,
                                                  monkeypatch):
  index_dir = str(tmp_path / "index")
  old = index_lib.SearchIndex.build(np.eye(3, dtype=np.float32), list("abc"))
  old.save(index_dir)
  rename = os.rename

  def failing_rename(src, dst):
    if ".tmp-" in src:  # Moving the new index in (not the rollback).
      raise OSError("simulated disk full")
    return rename(src, dst)

  monkeypatch.setattr(os, "rename", failing_rename)
  with pytest.raises(OSError, match="disk full"):
    scann_index.save(index_dir, overwrite=True)
  monkeypatch.setattr(os, "rename", rename)
  assert index_lib.SearchIndex.load(index_dir).ids == list("abc")
  assert os.listdir(tmp_path) == ["index"]


# Run-dir gin configs.


def test_train_refuses_a_run_dir_config_that_runs_code(cli_runs):
  line = _error_line(cli_runs["results"]["train"], "train.py: error: ")
  assert "refused 'from __gin__ import dynamic_registration'" in line
  assert not os.path.exists(cli_runs["markers"]["train"])


@pytest.mark.parametrize("statement", [
    "include '{other}'",
    "from __gin__ import dynamic_registration",
    "import os",
])
def test_export_and_evaluation_refuse_code_in_a_run_dir_config(
    tmp_path, statement):
  marker = tmp_path / "marker"
  other = tmp_path / "other.gin"
  other.write_text(_payload_gin(marker))
  model_dir = _tiny_model_dir(str(tmp_path))
  config = os.path.join(model_dir, export_lib.OPERATIVE_CONFIG)
  with open(config) as f:
    text = f.read()
  with open(config, "w") as f:
    f.write(statement.format(other=other) + "\n" + text)
  for load in (lambda: export_lib.export(model_dir, str(tmp_path / "out")),
               lambda: loaders.from_model_dir(model_dir)):
    with pytest.raises(run_dir_config.UntrustedConfigError) as error:
      load()
    assert f"refused {statement.format(other=other)!r}" in _one_line(
        error.value)
  assert not marker.exists() and not (tmp_path / "out").exists()


# Export.


def test_export_refuses_misspelt_bindings_in_one_line(cli_runs, tmp_path):
  line = _error_line(cli_runs["results"]["export"], "export_tfhub: error: ")
  assert "No configurable matching 'InputReadr'" in line
  model_dir = cli_runs["model_dir"]
  for binding, message in (
      ("InputReader.resize_sze = 320", "doesn't have a parameter named"),
      ("InputReader.resize_size = (320", "Gin syntax error")):
    with pytest.raises(ValueError) as error:
      export_lib.export(model_dir, str(tmp_path / "out"),
                        gin_bindings=[binding])
    assert message in _one_line(" ".join(str(error.value).split()))


@pytest.mark.parametrize("target", ["model", "parent"])
def test_export_refuses_a_target_holding_its_input(tmp_path, target):
  model_dir = _tiny_model_dir(str(tmp_path))
  export_dir = model_dir if target == "model" else str(tmp_path)
  with pytest.raises(ValueError) as error:
    export_lib.export(model_dir, export_dir, overwrite=True)
  assert "--model_dir" in _one_line(error.value)
  for name in ("results.json", "checkpoints/ckpt-1.index",
               export_lib.OPERATIVE_CONFIG):
    assert os.path.exists(os.path.join(model_dir, name)), name


# Hugging Face snapshots.


def test_convert_refuses_a_pickle_that_runs_code_in_one_line(cli_runs):
  line = _error_line(cli_runs["results"]["convert"],
                     "convert_hf_checkpoint: error: ")
  assert "objects other than tensors" in line and "model.safetensors" in line
  assert not os.path.exists(cli_runs["markers"]["convert"])
  assert not os.path.exists(os.path.join(cli_runs["root"], "conv"))


@pytest.mark.parametrize("shard", ["/etc/passwd", "../../etc/passwd",
                                   "sub/model.safetensors", "link"])
def test_convert_reads_weight_files_only_inside_hf_dir(tmp_path, shard):
  hf_dir = _hf_snapshot(str(tmp_path))
  os.symlink("/etc/passwd", os.path.join(hf_dir, "link"))
  with open(os.path.join(hf_dir, "model.safetensors.index.json"), "w") as f:
    json.dump({"weight_map": {"a.weight": "ok.safetensors", "b": shard}}, f)
  with pytest.raises(hf_align.ConversionError) as error:
    hf_align.convert(hf_dir, str(tmp_path / "out"))
  assert f"names {shard!r}, which is not a plain file name inside" in (
      _one_line(error.value))


def test_convert_refuses_a_projection_unlike_the_image_embedding(tmp_path):
  hf_dir = _hf_snapshot(str(tmp_path), projection_dim=16,
                        vision_config={"width_coefficient": 0.5,
                                       "depth_coefficient": 0.26})
  with pytest.raises(hf_align.ConversionError,
                     match=r"projection_dim=16 .* image embedding size 160"):
    hf_align.convert(hf_dir, str(tmp_path / "out"))


@pytest.mark.parametrize("target", ["hf", "parent"])
def test_convert_refuses_a_target_holding_its_input(tmp_path, target):
  hf_dir = _hf_snapshot(str(tmp_path))
  (tmp_path / "hf" / "model.safetensors").write_bytes(b"weights")
  model_dir = hf_dir if target == "hf" else str(tmp_path)
  with pytest.raises(ValueError) as error:
    hf_align.convert(hf_dir, model_dir, overwrite=True)
  assert "--hf_dir" in _one_line(error.value)
  assert sorted(os.listdir(hf_dir)) == ["config.json", "model.safetensors",
                                        "vocab.txt"]


# Karpathy JSON.


def test_retrieval_eval_checks_the_json_before_loading_a_model(cli_runs):
  line = _error_line(cli_runs["results"]["retrieval"],
                     "retrieval_eval: error: ")
  assert "images[0] ('../x.jpg')" in line and "leaves --image_dir" in line
  assert "no_such_export" not in line


@pytest.mark.parametrize("entry, message", [
    (_good_entry(filename=None), "filename must be a non-empty string"),
    ({"split": "test", "sentences": [{"raw": "a"}]}, "filename must be"),
    (_good_entry(sentences=[{"text": "a"}]), "sentences[0] has no caption"),
    (_good_entry(sentences=None), "sentences must be a non-empty list"),
    (_good_entry(sentences="a photo"), "sentences must be a non-empty list"),
    (_good_entry(sentences=[{"raw": 3}]), "sentences[0] has no caption"),
    (_good_entry(filename=7), "filename must be a non-empty string"),
    (_good_entry(filename="/etc/passwd"), "is an absolute path"),
    (_good_entry(filename="../../etc/passwd"), "leaves --image_dir"),
    (_good_entry(filepath="../.."), "filepath '../..' leaves --image_dir"),
    (_good_entry(filename="out.jpg"), "leads out of --image_dir"),
])
def test_karpathy_json_is_validated_and_confined(tmp_path, entry, message):
  json_path, image_dir = _karpathy(str(tmp_path), [_good_entry(), entry])
  os.symlink("/etc/passwd", os.path.join(image_dir, "out.jpg"))
  with pytest.raises(ValueError) as error:
    karpathy.load_karpathy(json_path, image_dir)
  line = _one_line(error.value)
  assert message in line and "images[1]" in line
