"""Shards written by the real img2dataset and webdataset, built at test time.

`build_corpus` writes a small web of images (PIL; some broken) and a parquet
url list with awkward captions; `serve` serves the images from 127.0.0.1 for a
bounded time; `run_img2dataset` runs the img2dataset package (its `download`,
in a subprocess of its own) over them. `write_webdataset_shards` writes tar
shards with the webdataset package's own `ShardWriter`.

Each fixture row knows the reason `InputReader` must skip it for (None: it must
be read), from the bytes we served and the caption: the expected outcome is
this table plus what img2dataset reports it wrote (its parquet `status`), never
what our reader says.
"""
import contextlib
import dataclasses
import functools
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

# Longest a fixture server may live (s): it shuts itself down after that.
SERVER_LIFETIME = 600
LONG_CAPTION = ("a red circle on a blue square, " * 170)[:5000]


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
  buf = io.BytesIO()
  image.save(buf, format=fmt, **kwargs)
  return buf.getvalue()


def _photo(width: int, height: int, seed: int) -> Image.Image:
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
  return Image.fromarray(pixels, "RGB")


def _images() -> Dict[str, tuple]:
  """kind -> (file name, bytes, reason when the bytes are kept as served)."""
  jpeg = _encode(_photo(64, 48, 0), "JPEG", quality=90)
  sixteen_bit = Image.fromarray(
      (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50), "I;16")
  return {
      "jpeg": ("photo.jpg", jpeg, None),
      "jpeg_b": ("other.jpg", _encode(_photo(80, 60, 1), "JPEG"), None),
      "png": ("drawing.png", _encode(_photo(40, 30, 2), "PNG"), None),
      "gif": ("anim.gif", _encode(_photo(32, 32, 3).convert("P"), "GIF"),
              None),
      "one_pixel": ("dot.png", _encode(_photo(1, 1, 4), "PNG"), None),
      "thin": ("strip.jpg", _encode(_photo(2000, 8, 5), "JPEG"), None),
      "cmyk": ("print.jpg", _encode(_photo(48, 40, 6).convert("CMYK"),
                                    "JPEG"), None),
      "png16": ("deep.png", _encode(sixteen_bit, "PNG"), None),
      "truncated": ("cut.jpg", jpeg[:len(jpeg) // 2], "decode_error"),
      "zero_bytes": ("empty.jpg", b"", "zero_size_image"),
      "html": ("page.jpg", b"<html><body>404 Not Found</body></html>",
               "unknown_image_format"),
      "webp": ("modern.webp", _encode(_photo(40, 30, 7), "WEBP"), None),
  }


# caption kind -> (caption in the url list, reason, caption img2dataset writes).
CAPTIONS = {
    "plain": ("a red circle", None),
    "empty": ("", "empty_caption"),
    "whitespace": (" \t \u3000 ", "empty_caption"),
    "null": (None, "empty_caption"),  # img2dataset writes "" for a null.
    "non_ascii": ("un cercle rouge \u00e9t\u00e9 \u7ea2\u8272\u7684\u5706 "
                  "\U0001f534", None),
    "long": (LONG_CAPTION, None),
    "newline_tab": ("a blue\nsquare\twith a tab", None),
}


@dataclasses.dataclass(frozen=True)
class Row:
  """One url-list row: what was served and what the reader must do with it."""
  url: str
  image_kind: str
  caption_kind: str
  caption: Optional[str]
  image_reason: Optional[str]     # Reason when the served bytes are kept.
  caption_reason: Optional[str]

  @property
  def written_caption(self) -> str:
    return "" if self.caption is None else self.caption

  def reason(self, reencoded: bool) -> Optional[str]:
    """The skip reason (None: read), by `SKIP_REASONS` order of checks."""
    image_reason = None if reencoded else self.image_reason
    # `InputReader` checks caption emptiness before the image.
    if self.caption_reason is not None:
      return self.caption_reason
    return image_reason


def build_corpus(directory: str, base_url: str) -> List[Row]:
  """Writes `directory`/www/* and `directory`/urls.parquet; returns the rows."""
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  www = os.path.join(directory, "www")
  os.makedirs(www, exist_ok=True)
  rows = []
  for kind, (name, data, reason) in _images().items():
    with open(os.path.join(www, name), "wb") as f:
      f.write(data)
    # Every image with a plain caption, and the good JPEG with every caption.
    caption_kinds = list(CAPTIONS) if kind == "jpeg" else ["plain"]
    for caption_kind in caption_kinds:
      caption, caption_reason = CAPTIONS[caption_kind]
      rows.append(Row(f"{base_url}/{name}?row={len(rows)}", kind,
                      caption_kind, caption, reason, caption_reason))
  table = pa.table({"url": [r.url for r in rows],
                    "caption": pa.array([r.caption for r in rows],
                                        pa.string())})
  pq.write_table(table, os.path.join(directory, "urls.parquet"))
  return rows


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

  def log_message(self, *args):  # pylint: disable=arguments-differ
    pass


@contextlib.contextmanager
def serve(directory: str, lifetime: float = SERVER_LIFETIME):
  """Serves `directory` on 127.0.0.1 (a free port); yields the base URL."""
  handler = functools.partial(_QuietHandler, directory=directory)
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  timer = threading.Timer(lifetime, server.shutdown)
  timer.daemon = True
  timer.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}"
  finally:
    timer.cancel()
    server.shutdown()
    server.server_close()


def run_img2dataset(url_list: str, output_dir: str, output_format: str,
                    reencode: bool, timeout: float = 300) -> None:
  """Runs img2dataset's `download` in a fresh interpreter (it forks workers)."""
  kwargs = dict(
      url_list=url_list, output_folder=output_dir, input_format="parquet",
      url_col="url", caption_col="caption", output_format=output_format,
      processes_count=1, thread_count=4, number_sample_per_shard=8,
      timeout=5, retries=0, enable_wandb=False, image_size=64,
      disable_all_reencoding=not reencode, disallowed_header_directives=[])
  code = ("import json, sys\n"
          "from img2dataset import download\n"
          "download(**json.loads(sys.argv[1]))\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
             NO_ALBUMENTATIONS_UPDATE="1", WANDB_MODE="disabled")
  result = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)
  if result.returncode != 0:
    raise RuntimeError(f"img2dataset failed ({result.returncode}):\n"
                       f"{result.stderr[-3000:]}")


def written_statuses(output_dir: str) -> Dict[str, str]:
  """url -> img2dataset's `status` for every row, from its parquet files."""
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  statuses = {}
  for name in sorted(os.listdir(output_dir)):
    if name.endswith(".parquet"):
      table = pq.read_table(os.path.join(output_dir, name)).to_pydict()
      statuses.update(zip(table["url"], table["status"]))
  return statuses
