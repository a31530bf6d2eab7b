"""Every shell command in README.md names scripts, modules and flags that exist.

Each ```sh / ```bash / ```shell block of the README is split into commands
(backslash continuations joined, `#` comments, `$ ` prompts and leading
`VAR=value` assignments dropped, `&&`, `||`, `;` and `|` separating
commands). For each command:

* `python path/to/script.py ...`: the script exists in the repository;
  `python -m package.module ...`: the module is importable;
* `make target ...`: every target is a rule of the Makefile;
* any other program (`pip`, `tensorboard`, ...): found in the venv's bin/
  or on PATH (shell builtins such as `cd` are not checked);
* every `--flag` (as `--flag`, `--flag=value` or `--noflag`) appears in the
  entry point's `--help` output (absl's `--helpfull` as a fallback, for
  flags defined outside the main module). `--help` runs once per distinct
  entry point (script, module, or program plus its subcommand), in
  parallel, from the repository root.

One test per command, named by its README line, so a failure says which
command and which script or flag is unknown. The parser itself is tested on
a synthetic README.
"""
import concurrent.futures
import dataclasses
import functools
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
MAKEFILE = os.path.join(REPO, "Makefile")
SHELL_LANGUAGES = ("sh", "bash", "shell", "console")
PYTHON_NAMES = re.compile(r"^(.*/)?python(3(\.\d+)?)?$")
# Shell builtins and basic utilities whose flags are not checked.
UNCHECKED_PROGRAMS = frozenset(
    "cd export source . set unset echo printf cat ls mkdir rm cp mv ln pwd "
    "true false test [ env sudo time wait kill sleep head tail tee".split())
CONTROL_OPERATORS = frozenset(("&&", "||", ";", "|", "&"))
HELP_TIMEOUT_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class Command:
  """One shell command of the README.

  Attributes:
    line: 1-based README line where the command starts.
    text: the command as written (continuations joined).
    argv: its words after shell-style unquoting, assignments dropped.
  """
  line: int
  text: str
  argv: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class EntryPoint:
  """What a command runs.

  Attributes:
    kind: "script" (a repository file run by python), "module"
      (python -m), "make", "program" (any other executable) or "skip".
    name: script path, module name, or program (plus subcommand).
    help_argv: the command that prints its help, or () if none is run.
    flags: the --flags the command passes (names without values).
    targets: make targets (kind "make").
    subcommand: first positional word of a script or module (e.g. `build`
      of `python -m official.align.search build`), whose own `--help` is
      asked when the entry point's does not list a flag.
  """
  kind: str
  name: str
  help_argv: Tuple[str, ...] = ()
  flags: Tuple[str, ...] = ()
  targets: Tuple[str, ...] = ()
  subcommand: Optional[str] = None


def shell_blocks(markdown: str) -> List[Tuple[int, str]]:
  """(first line number, body) of each fenced sh/bash/shell/console block."""
  blocks, body, start, fence = [], [], 0, None
  for number, line in enumerate(markdown.splitlines(), 1):
    stripped = line.strip()
    if fence is None:
      match = re.match(r"^(```+|~~~+)\s*([\w+-]*)", stripped)
      if match:
        fence = (match.group(1), match.group(2).lower())
        body, start = [], number + 1
    elif stripped.startswith(fence[0]) and not stripped.strip(fence[0][0]):
      if fence[1] in SHELL_LANGUAGES:
        blocks.append((start, "\n".join(body)))
      fence = None
    else:
      body.append(line)
  return blocks


def _split_words(text: str) -> List[str]:
  """Shell words of `text` (comments dropped, operators as their own words)."""
  lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
  lexer.whitespace_split = True
  lexer.commenters = "#"
  return list(lexer)


def commands(markdown: str) -> List[Command]:
  """The shell commands of the README's shell blocks, in order."""
  out = []
  for start, body in shell_blocks(markdown):
    lines = body.splitlines()
    i = 0
    while i < len(lines):
      first, text = start + i, lines[i]
      while text.rstrip().endswith("\\") and i + 1 < len(lines):
        i += 1
        text = text.rstrip()[:-1] + " " + lines[i].strip()
      i += 1
      text = re.sub(r"^\s*\$\s+", "", text)
      if not text.strip() or text.lstrip().startswith("#"):
        continue
      words, current = _split_words(text), []
      for word in words + [";"]:
        if word in CONTROL_OPERATORS:
          while current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", current[0]):
            current.pop(0)  # VAR=value prefix.
          if current:
            out.append(Command(first, text.strip(), tuple(current)))
          current = []
        else:
          current.append(word)
  return out


def _flag_names(words: Sequence[str]) -> Tuple[str, ...]:
  names = []
  for word in words:
    match = re.match(r"^--([A-Za-z][\w.-]*)", word)
    if match:
      names.append(match.group(1))
  return tuple(dict.fromkeys(names))


def _is_subcommand(word: str) -> bool:
  return bool(re.match(r"^[a-z][a-z0-9_-]*$", word))


def _first_subcommand(words: Sequence[str]) -> Optional[str]:
  positional = [w for w in words if not w.startswith("-")]
  if positional and _is_subcommand(positional[0]):
    return positional[0]
  return None


def entry_point(command: Command) -> EntryPoint:
  """What `command` runs and how to ask it for help."""
  argv = command.argv
  program = argv[0]
  if PYTHON_NAMES.match(program):
    rest = list(argv[1:])
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
      rest.pop(0)  # Interpreter options such as -u.
    if not rest or rest[0] == "-c":
      return EntryPoint("skip", "python")
    if rest[0] == "-m":
      if rest[1] == "pip":
        sub = rest[2:3] if len(rest) > 2 and _is_subcommand(rest[2]) else []
        return EntryPoint(
            "program", " ".join(["pip"] + sub),
            (sys.executable, "-m", "pip", *sub, "--help"),
            flags=_flag_names(rest[2:]))
      return EntryPoint("module", rest[1],
                        (sys.executable, "-m", rest[1], "--help"),
                        flags=_flag_names(rest[2:]),
                        subcommand=_first_subcommand(rest[2:]))
    return EntryPoint("script", os.path.normpath(rest[0]),
                      (sys.executable, os.path.join(REPO, rest[0]), "--help"),
                      flags=_flag_names(rest[1:]),
                      subcommand=_first_subcommand(rest[1:]))
  if program == "make":
    targets = tuple(w for w in argv[1:]
                    if not w.startswith("-") and "=" not in w)
    return EntryPoint("make", "make", targets=targets or ("<default>",))
  if program in UNCHECKED_PROGRAMS:
    return EntryPoint("skip", program)
  sub = [argv[1]] if len(argv) > 1 and _is_subcommand(argv[1]) else []
  return EntryPoint("program", " ".join([program] + sub),
                    (program, *sub, "--help"),
                    flags=_flag_names(argv[1 + len(sub):]))


def make_targets(makefile_text: str) -> List[str]:
  """Rule names of a Makefile (`name:` at the start of a line)."""
  targets = []
  for line in makefile_text.splitlines():
    match = re.match(r"^([A-Za-z0-9_.\-/$()]+(?:\s+[A-Za-z0-9_.\-/]+)*)\s*:(?!=)",
                     line)
    if match and not line.startswith("\t"):
      targets.extend(match.group(1).split())
  return [t for t in targets if not t.startswith(".")]


def find_program(program: str) -> Optional[str]:
  """The executable `program` in this interpreter's bin/ or on PATH."""
  local = os.path.join(os.path.dirname(sys.executable), program)
  if os.access(local, os.X_OK):
    return local
  return shutil.which(program)


def run_help(help_argv: Sequence[str]) -> str:
  """stdout + stderr of a help command run from the repository root."""
  argv = list(help_argv)
  if argv[0] != sys.executable:
    argv[0] = find_program(argv[0]) or argv[0]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
  try:
    run = subprocess.run(argv, cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=HELP_TIMEOUT_SECONDS, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    return f"<{' '.join(argv)} failed: {e}>"
  return run.stdout + run.stderr


def flag_is_listed(flag: str, help_text: str) -> bool:
  """`--flag` (or absl's `--[no]flag` / `--noflag`) appears in `help_text`."""
  names = {flag}
  if flag.startswith("no"):
    names.add(flag[2:])
  return any(
      re.search(rf"--(\[no\])?{re.escape(name)}(?![\w-])", help_text)
      for name in names)


def problems(command: Command, help_of) -> List[str]:
  """What is unknown in `command` (empty if everything exists).

  Args:
    command: a README command.
    help_of: help_argv → help text (cached by the caller).
  """
  entry = entry_point(command)
  found = []
  if entry.kind == "skip":
    return found
  if entry.kind == "make":
    with open(MAKEFILE) as f:
      known = make_targets(f.read())
    return [f"make target {t!r} is not in the Makefile (targets: "
            f"{', '.join(known)})" for t in entry.targets
            if t != "<default>" and t not in known]
  if entry.kind == "script" and not os.path.isfile(
      os.path.join(REPO, entry.name)):
    return [f"script {entry.name} does not exist"]
  if entry.kind == "module" and importlib.util.find_spec(entry.name) is None:
    return [f"module {entry.name} is not importable"]
  if entry.kind == "program" and not find_program(entry.name.split()[0]):
    return [f"program {entry.name.split()[0]!r} is not installed"]
  if not entry.flags:
    return found
  help_text = help_of(entry.help_argv)
  missing = [f for f in entry.flags if not flag_is_listed(f, help_text)]
  if missing and entry.kind in ("script", "module"):
    full = help_of(entry.help_argv[:-1] + ("--helpfull",))
    missing = [f for f in missing if not flag_is_listed(f, full)]
  if missing and entry.subcommand:
    sub = help_of(entry.help_argv[:-1] + (entry.subcommand, "--help"))
    missing = [f for f in missing if not flag_is_listed(f, sub)]
  if missing and "Traceback (most recent call last)" in help_text:
    last = help_text.strip().splitlines()[-1]
    return [f"`{entry.name} --help` crashed ({last}), so --"
            f"{', --'.join(missing)} cannot be checked"]
  for flag in missing:
    found.append(f"--{flag} is not in `{entry.name} --help`")
  return found


def _readme_commands() -> List[Command]:
  if not os.path.exists(README):
    return []
  with open(README, encoding="utf-8") as f:
    return commands(f.read())


README_COMMANDS = _readme_commands()


@functools.lru_cache(maxsize=None)
def _cached_help(help_argv: Tuple[str, ...]) -> str:
  return run_help(help_argv)


@pytest.fixture(scope="module")
def help_of():
  """help_argv → help text, every entry point's --help run up front in parallel."""
  wanted = {entry_point(c).help_argv for c in README_COMMANDS
            if entry_point(c).flags}
  wanted.discard(())
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    list(pool.map(_cached_help, sorted(wanted)))
  return _cached_help


def test_readme_has_shell_commands():
  assert README_COMMANDS, "README.md has no ```sh/```bash commands."


@pytest.mark.parametrize(
    "command", README_COMMANDS,
    ids=[f"L{c.line}-{c.argv[0]}-{' '.join(c.argv[1:3])}"[:60]
         for c in README_COMMANDS])
def test_readme_command_names_existing_scripts_and_flags(command, help_of):
  found = problems(command, help_of)
  assert not found, (f"README.md line {command.line}: `{command.text}`:\n  " +
                     "\n  ".join(found))


SYNTHETIC_README = r"""
Intro.

```sh
make demo   # first
TF_CPP_MIN_LOG_LEVEL=2 python official/align/train.py --gin_file=a.gin \
    --gin_bindings="X.y='a b'"  --model_dir=/tmp/m && tensorboard --logdir=/tmp/m
$ python -m pkg.mod --flag=1 --nosomething; pip install .
```

```python
python not_a_shell_block.py --ignored
```

~~~bash
python -c "print(1)"
cd somewhere
~~~
"""


def test_commands_are_extracted_like_a_shell_would():
  found = commands(SYNTHETIC_README)
  assert [c.argv for c in found] == [
      ("make", "demo"),
      ("python", "official/align/train.py", "--gin_file=a.gin",
       "--gin_bindings=X.y='a b'", "--model_dir=/tmp/m"),
      ("tensorboard", "--logdir=/tmp/m"),
      ("python", "-m", "pkg.mod", "--flag=1", "--nosomething"),
      ("pip", "install", "."),
      ("python", "-c", "print(1)"),
      ("cd", "somewhere"),
  ]
  assert [c.line for c in found] == [5, 6, 6, 8, 8, 16, 17]


def test_entry_points_and_flags():
  found = commands(SYNTHETIC_README)
  entries = [entry_point(c) for c in found]
  assert [(e.kind, e.name) for e in entries] == [
      ("make", "make"), ("script", "official/align/train.py"),
      ("program", "tensorboard"), ("module", "pkg.mod"),
      ("program", "pip install"), ("skip", "python"), ("skip", "cd")]
  assert entries[1].flags == ("gin_file", "gin_bindings", "model_dir")
  assert entries[3].flags == ("flag", "nosomething")
  assert entries[4].help_argv == ("pip", "install", "--help")


def test_flags_are_matched_as_whole_names():
  help_text = "  --model_dir: where\n  --[no]overwrite: replace\n  --gin_file"
  assert flag_is_listed("model_dir", help_text)
  assert flag_is_listed("overwrite", help_text)
  assert flag_is_listed("nooverwrite", help_text)
  assert not flag_is_listed("model", help_text)
  assert not flag_is_listed("gin", help_text)
  assert not flag_is_listed("gin_files", help_text)


def test_unknown_script_flag_and_target_are_reported():
  texts = {"--help": "usage\n  --known: a flag\n",
           "--helpfull": "usage\n  --known: a flag\n  --also: lib flag\n"}
  help_of = lambda argv: texts[argv[-1]]  # Instead of running the script.
  script = Command(1, "", ("python", "official/align/train.py", "--known=1",
                           "--also", "--bogus=2"))
  assert problems(script, help_of) == [
      "--bogus is not in `official/align/train.py --help`"]
  texts["--help"] = "usage: tool\n"  # Flags listed only by `tool sub --help`.
  texts["--helpfull"] = "usage: tool\n"
  help_of = lambda argv: ("  --user\n" if argv[-2:] == ("install", "--help")
                          else texts[argv[-1]])
  module = Command(1, "", ("python", "-m", "ipykernel", "install", "--user",
                           "--bogus"))
  assert entry_point(module).subcommand == "install"
  crash = lambda argv: "Traceback (most recent call last):\nImportError: x\n"
  assert problems(Command(1, "", ("tensorboard", "--logdir=x")), crash) == [
      "`tensorboard --help` crashed (ImportError: x), so --logdir cannot be "
      "checked"]
  assert problems(module, help_of) == ["--bogus is not in `ipykernel --help`"]
  assert problems(Command(1, "", ("python", "no/such_script.py")), None) == [
      "script no/such_script.py does not exist"]
  assert problems(Command(1, "", ("make", "nosuchtarget")), None)[0].startswith(
      "make target 'nosuchtarget' is not in the Makefile")
  assert problems(Command(1, "", ("python", "-m", "no_such_module_xyz")),
                  None) == ["module no_such_module_xyz is not importable"]
  assert problems(Command(1, "", ("no-such-program-xyz", "--x")), None) == [
      "program 'no-such-program-xyz' is not installed"]


def test_make_targets_are_parsed():
  text = (".PHONY: a b\nVAR := 1\na: $(STAMP)\n\techo x: y\n"
          "b c: d\n$(STAMP): req.txt\n")
  assert make_targets(text) == ["a", "b", "c", "$(STAMP)"]
