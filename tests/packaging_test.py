"""`official.align` lives beside tf-models-official's `official` package.

(a) From this source checkout after the README's set-up (`make venv`), and
(b) from the wheel built by setup.py installed into a fresh venv, which must
not ship or overwrite any file of tf-models-official.
"""
import base64
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORT_CHECK = (
    "import official, official.align, official.vision.modeling.backbones, "
    "official.nlp.modeling.networks, official.modeling.optimization; "
    "from official.align.modeling import align_model; "
    "print(official.align.__file__); print(official.vision.__file__)")


def _run(argv, cwd, env=None):
  env = dict(env or os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("PYTHONPATH", None)
  result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout.strip().splitlines()


@pytest.mark.parametrize("cwd", ["repo", "elsewhere"])
def test_source_checkout_imports_beside_model_garden(cwd, tmp_path):
  align_file, vision_file = _run(
      [sys.executable, "-c", IMPORT_CHECK],
      cwd=REPO if cwd == "repo" else str(tmp_path))[-2:]
  assert align_file == os.path.join(REPO, "official", "align", "__init__.py")
  assert vision_file.startswith(sysconfig.get_paths()["purelib"])


def test_script_runs_as_file_from_repository_root(tmp_path):
  """`python official/align/<module>.py` puts the script's folder (not the
  root) on sys.path; the package must still resolve."""
  _run([sys.executable, "official/align/demo/world.py",
        f"--output_dir={tmp_path}", "--num_train=4", "--num_eval=2",
        "--num_workers=1"], cwd=REPO)
  assert list(tmp_path.glob("train-*.tfrecord"))


def _model_garden_record():
  """{path: sha256} of the installed tf-models-official files."""
  dist = importlib.metadata.distribution("tf-models-official")
  return dist, {str(f): f.hash.value for f in dist.files if f.hash}


def _sha256(path):
  with open(path, "rb") as f:
    digest = hashlib.sha256(f.read()).digest()
  return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_wheel_installs_beside_model_garden_without_overwriting(tmp_path):
  # Build from a copy so the checkout gets no build/ or egg-info litter.
  src = tmp_path / "src"
  shutil.copytree(os.path.join(REPO, "official", "align"),
                  src / "official" / "align",
                  ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("setup.py", "requirements.txt", "official/__init__.py"):
    shutil.copy(os.path.join(REPO, name), src / name)
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
        "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
        str(src)], cwd=str(tmp_path))
  (wheel,) = (tmp_path / "dist").glob("align_tf-*.whl")

  dist, record = _model_garden_record()
  shipped = [n for n in zipfile.ZipFile(wheel).namelist()
             if not n.startswith("align_tf-")]
  assert "official/align/__init__.py" in shipped
  assert "official/align/modeling/align_model.py" in shipped
  for page_file in ("index.html", "app.js", "style.css"):  # The search page.
    assert f"official/align/search/static/{page_file}" in shipped
  assert all(n.startswith("official/align/") for n in shipped), shipped
  assert not set(shipped) & set(record)
  # Beam, ScaNN and safetensors are extras, not hard dependencies.
  (metadata_name,) = [n for n in zipfile.ZipFile(wheel).namelist()
                      if n.endswith(".dist-info/METADATA")]
  metadata = zipfile.ZipFile(wheel).read(metadata_name).decode()
  requires = [l for l in metadata.splitlines() if l.startswith("Requires-Dist")]
  extras = {l.split(":", 1)[1].strip() for l in metadata.splitlines()
            if l.startswith("Provides-Extra:")}
  assert extras == {"beam", "search", "hf"}, extras
  for package, extra in (("apache-beam", "beam"), ("scann", "search"),
                         ("safetensors", "hf")):
    lines = [l for l in requires if l.split(":", 1)[1].strip().startswith(
        package)]
    assert lines and all(f'extra == "{extra}"' in l for l in lines), lines
  assert any("tensorflow==2.20" in l and "extra" not in l for l in requires)

  # A fresh venv holding tf-models-official as pip laid it out; its other
  # dependencies (TensorFlow...) come from this venv through a .pth file.
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
  python = str(venv / "bin" / "python")
  site = _run([python, "-c", "import sysconfig; "
               "print(sysconfig.get_paths()['purelib'])"],
              cwd=str(tmp_path))[-1]
  installed_root = dist.locate_file("")
  for relative in record:
    if relative.startswith(("official/", "tf_models_official-")):
      target = os.path.join(site, relative)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.copy(installed_root / relative, target)
  with open(os.path.join(site, "deps.pth"), "w") as f:
    f.write(sysconfig.get_paths()["purelib"] + "\n")

  _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
        str(wheel)], cwd=str(tmp_path))

  align_file, vision_file = _run([python, "-c", IMPORT_CHECK],
                                 cwd=str(tmp_path))[-2:]
  assert align_file == os.path.join(site, "official", "align", "__init__.py")
  assert vision_file == os.path.join(site, "official", "vision",
                                     "__init__.py")
  for relative, digest in record.items():
    if relative.startswith("official/"):
      assert _sha256(os.path.join(site, relative)) == digest, relative


@pytest.mark.parametrize("module,extra,code", [
    ("apache_beam", "beam", "import official.align.filtering.beam_pipeline"),
    ("scann", "search", "from official.align.search import index; import "
     "numpy as np; index.build_scann_searcher(np.eye(4, dtype=np.float32), "
     "index.ScannConfig())"),
    ("safetensors", "hf", "from official.align.checkpoints import "
     "hf_weights; hf_weights._load_safetensors('model.safetensors')"),
])
def test_missing_extra_is_named(module, extra, code, tmp_path):
  """Without an optional package, the error names the extra to install."""
  blocker = tmp_path / "sitecustomize.py"
  blocker.write_text(
      "import sys\n"
      "class _Block:\n"
      "  def find_spec(self, name, path=None, target=None):\n"
      f"    if name.split('.')[0] == {module!r}:\n"
      "      raise ImportError(f'blocked {name}')\n"
      "sys.meta_path.insert(0, _Block())\n")
  env = dict(os.environ, PYTHONPATH=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert "MissingExtraError" in last and f"align-tf[{extra}]" in last, last
