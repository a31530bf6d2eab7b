"""Makes this source checkout's `official/align` importable in the current venv.

tf-models-official installs a regular package `official` in site-packages. This
writes a `.pth` hook that appends the checkout's `official/` directory to that
package's `__path__`, so `official.align` resolves here while `official.vision`,
`official.nlp`, ... stay tf-models-official's. Nothing of tf-models-official is
modified. Run with the venv's interpreter: `python tools/install_dev_path.py`.
"""
import os
import sysconfig

PTH_NAME = "official_align_dev.pth"


def main():
  repo_official = os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "official")
  line = ("import official; "
          f"official.__path__.append({repo_official!r}) "
          f"if {repo_official!r} not in official.__path__ else None\n")
  path = os.path.join(sysconfig.get_paths()["purelib"], PTH_NAME)
  with open(path, "w") as f:
    f.write(line)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
