"""run_dir_config: what a config read back from a run dir may hold."""
import os

import gin
import pytest

from official.align import run_dir_config
from official.align import gin_utils

REPO = os.path.dirname(os.path.dirname(__file__))


def test_the_configs_this_package_writes_pass():
  # tiny.gin's statements are those of an operative config: imports of
  # official.align modules, bindings, references, macros.
  with open(os.path.join(REPO, "configs", "tiny.gin")) as f:
    run_dir_config.check_config(f.read(), "tiny.gin")
  run_dir_config.check_config(
      "import official.align.train_lib\nA.b = @c()\nA.d = %M\nM = [1, 2]\n"
      "scope/A.e = {'k': (1, 2)}\n", "ok.gin")


@pytest.mark.parametrize("line, reason", [
    ("include 'other.gin'", "`include` reads another file"),
    ("from __gin__ import dynamic_registration", "dynamic registration"),
    ("import os", "outside official.align"),
    ("import official.alignment", "outside official.align"),
    ("from os import path", "outside official.align"),
])
def test_code_statements_are_refused_naming_the_line(line, reason):
  text = f"A.b = 1\n{line}\nA.c = 2\n"
  with pytest.raises(run_dir_config.UntrustedConfigError) as error:
    run_dir_config.check_config(text, "run/operative_config.gin")
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith(f"run/operative_config.gin:2: refused {line!r}")
  assert reason in message


@pytest.mark.parametrize("text", ["A.b = (", "A.b = = 1"])
def test_syntax_errors_are_one_line_value_errors(text):
  with pytest.raises(ValueError, match="Gin syntax error in x.gin") as error:
    run_dir_config.check_config(text, "x.gin")
  assert "\n" not in str(error.value)


def test_parse_gin_checks_run_dir_configs_only(tmp_path):
  payload = "include 'elsewhere.gin'\n"
  trusted = tmp_path / "experiment.gin"
  trusted.write_text(payload)
  with pytest.raises(IOError):  # Trusted: gin follows the include.
    gin_utils.parse_gin([str(trusted)], [])
  gin.clear_config()
  for path in (tmp_path / "operative_config.gin",
               tmp_path / "model" / "experiment.gin"):
    path.parent.mkdir(exist_ok=True)
    path.write_text(payload)
    with pytest.raises(run_dir_config.UntrustedConfigError,
                       match="refused \"include 'elsewhere.gin'\""):
      gin_utils.parse_gin([str(path)], [], model_dir=str(tmp_path / "model"))
