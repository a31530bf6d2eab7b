"""`python -m official.align.search embed ...` that SIGKILLs itself.

The kill comes when the first embedding shard has been renamed into place
and its summary (the file that marks the unit done) is about to be: the
worst moment for a resumable writer. A SIGKILL cannot be caught, so this is
the same as a kill from outside at that instant.

  python tests/search/embed_worker.py embed --hub_dir=... --images=... \
      --output_dir=... [Beam options]
"""
import os
import signal

from absl import app
import tensorflow as tf

from official.align.search import __main__ as search_main

_rename = tf.io.gfile.rename


def _rename_or_die(src, dst, overwrite=False):
  name = os.path.basename(dst)
  if name.startswith("embeddings-") and name.endswith(".json"):
    print(f"Planned SIGKILL before publishing {name}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
  return _rename(src, dst, overwrite)


if __name__ == "__main__":
  tf.io.gfile.rename = _rename_or_die
  app.run(search_main.main, flags_parser=search_main.parse_flags)
