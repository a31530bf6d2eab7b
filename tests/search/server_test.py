"""The search page's JSON API over HTTP, on the running server of `search_page`.

One server (tests/search/conftest.py: the real `serve` command on the trained
demo fixture) answers every test: queries equal `search_lib.search`'s, every
bad input gets its 4xx status and one-line message and the server keeps
serving, thumbnails are found by item id only (path traversal gets 404),
it listens on 127.0.0.1 only, and 200 queries from 8 concurrent clients all
succeed. Latency figures are `make bench`'s (benchmarks/search_page.py).
"""
import concurrent.futures
import http.client
import io
import os
import urllib.parse

from absl import app
from absl import flags
import gin
import numpy as np
from PIL import Image
import pytest
import requests

from official.align.search import __main__ as cli
from official.align.search import items as items_lib
from official.align.search import page_search
from official.align.search import search_lib
from official.align.search import server as server_lib

MB = 2 ** 20
# Scores are cosines of float32 unit vectors computed by the same ops in two
# processes; ranks may swap only between scores this close.
SCORE_TOLERANCE = 1e-5


def _get(page, path, **params):
  return requests.get(page.url + path, params=params, timeout=60)


def _post(page, image: bytes, filename="query.png", **fields):
  return requests.post(page.url + "api/search", data=fields,
                       files={"image": (filename, image)}, timeout=60)


def assert_same_results(answer, expected):
  """The page's results are `search_lib.search`'s (ids and cosines)."""
  got = [(r["id"], r["score"]) for r in answer["results"]]
  assert [r["rank"] for r in answer["results"]] == list(
      range(1, len(expected) + 1))
  assert len(got) == len(expected)
  np.testing.assert_allclose([s for _, s in got], [s for _, s in expected],
                             atol=SCORE_TOLERANCE)
  for (got_id, score), (want_id, _) in zip(got, expected):
    if got_id != want_id:  # A tie within float noise may swap two ranks.
      tied = {i for i, s in expected if abs(s - score) <= SCORE_TOLERANCE}
      assert got_id in tied, (got, expected)


def _png_bytes(rgb=(200, 30, 30), size=(24, 24)):
  out = io.BytesIO()
  Image.new("RGB", size, rgb).save(out, "PNG")
  return out.getvalue()


def test_page_and_info(search_page):
  page = _get(search_page, "")
  assert page.status_code == 200
  assert "text/html" in page.headers["Content-Type"]
  for element in ('id="text"', 'id="image-file"', 'id="image-weight"',
                  'id="text-weight"', 'id="results"', "/static/app.js"):
    assert element in page.text
  for static in ("static/app.js", "static/style.css"):
    assert _get(search_page, static).status_code == 200
  info = _get(search_page, "api/info").json()
  assert info["count"] == len(search_page.index)
  assert info["items_with_images"] == len(search_page.index)
  assert info["max_upload_bytes"] == 10 * MB
  assert (info["default_top_k"], info["max_top_k"]) == (24, 100)


@pytest.mark.parametrize("params", [
    dict(text="a blue circle", top_k=10),
    dict(text="red", text_weight=-1.0, top_k=5),
    dict(text="a small green square on the left"),
])
def test_text_query_equals_search_lib(search_page, params):
  answer = _get(search_page, "api/search", **params)
  assert answer.status_code == 200, answer.text
  expected = search_lib.search(
      search_page.index, search_page.embedder, text=params["text"],
      text_weight=params.get("text_weight", search_lib.DEFAULT_TEXT_WEIGHT),
      top_k=params.get("top_k", 24))
  assert_same_results(answer.json(), expected)


@pytest.mark.parametrize("fields", [
    dict(),
    dict(text="blue", image_weight=1, text_weight=8, top_k=30),
    dict(text="red", image_weight=1, text_weight=-1, top_k=7),
])
def test_upload_query_equals_search_lib(search_page, fields):
  with open(search_page.red_circle, "rb") as f:
    image = f.read()
  answer = _post(search_page, image, "red_circle.jpg", **fields)
  assert answer.status_code == 200, answer.text
  expected = search_lib.search(
      search_page.index, search_page.embedder, text=fields.get("text"),
      image=search_page.red_circle,
      image_weight=fields.get("image_weight",
                              search_lib.DEFAULT_IMAGE_WEIGHT),
      text_weight=fields.get("text_weight", search_lib.DEFAULT_TEXT_WEIGHT),
      top_k=fields.get("top_k", 24))
  assert_same_results(answer.json(), expected)


def test_results_have_captions_and_thumbnails(search_page):
  answer = _get(search_page, "api/search", text="a yellow star",
                top_k=5).json()
  for row in answer["results"]:
    assert row["caption"] == search_page.labels[row["id"]]["caption"]
    thumbnail = requests.get(urllib.parse.urljoin(search_page.url,
                                                  row["thumbnail"]),
                             timeout=60)
    assert thumbnail.status_code == 200
    assert thumbnail.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumbnail.content)) as picture:
      assert picture.format == "JPEG" and max(picture.size) <= 128


def test_clicked_result_is_an_image_query(search_page):
  """`image_id` (what clicking a result sends) queries with that item's
  indexed embedding: alone, the item finds itself first."""
  item_id = search_page.index.ids[17]
  answer = _get(search_page, "api/search", image_id=item_id, top_k=3).json()
  assert answer["results"][0]["id"] == item_id
  assert answer["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)
  expected = search_page.index.search(
      search_page.index.embeddings[17], top_k=3)[0]
  assert_same_results(answer, expected)


def _truncated_png():
  data = _png_bytes(size=(64, 64))
  return data[:len(data) // 2]


BAD_QUERIES = [
    # (name, how: "get" params or "post" (image bytes, fields), status,
    #  words of the message)
    ("no query", ("get", {}), 400, "query is empty"),
    ("blank text", ("get", {"text": "   "}), 400, "query is empty"),
    ("post without image or text", ("post_form", {"top_k": "3"}), 400,
     "query is empty"),
    ("non-image upload", ("post", b"just some text, not a picture", {}), 415,
     "not an image"),
    ("corrupt upload", ("post", _truncated_png(), {}), 400,
     "cannot be decoded"),
    ("empty upload", ("post", b"", {}), 400, "empty (0 bytes)"),
    ("upload over 10 MB", ("post", b"\x89PNG" + b"\0" * (10 * MB), {}), 413,
     "limit of 10485760 bytes"),
    ("top_k 0", ("get", {"text": "blue", "top_k": "0"}), 400,
     "top_k must be an integer from 1 to 100, got '0'"),
    ("top_k 101", ("get", {"text": "blue", "top_k": "101"}), 400,
     "top_k must be an integer from 1 to 100, got '101'"),
    ("top_k not a number", ("get", {"text": "blue", "top_k": "ten"}), 400,
     "got 'ten'"),
    ("weight not a number", ("get", {"text": "blue", "text_weight": "x"}),
     400, "text_weight must be a finite number"),
    ("weight nan", ("get", {"text": "blue", "image_weight": "nan"}), 400,
     "image_weight must be a finite number"),
    ("zero weighted query", ("get", {"text": "blue", "text_weight": "0"}),
     400, "weighted query is zero"),
    ("unknown image_id", ("get", {"image_id": "../../etc/passwd"}), 400,
     "is not an item of this index"),
    ("text too long", ("get", {"text": "blue " * 200}), 400,
     "the limit is 500"),
]


@pytest.mark.parametrize("how,status,message",
                         [b[1:] for b in BAD_QUERIES],
                         ids=[b[0] for b in BAD_QUERIES])
def test_bad_input_gets_4xx_one_line_and_server_survives(
    search_page, how, status, message):
  if how[0] == "get":
    response = _get(search_page, "api/search", **how[1])
  elif how[0] == "post_form":
    response = requests.post(search_page.url + "api/search", data=how[1],
                             timeout=60)
  else:
    response = _post(search_page, how[1], **how[2])
  assert response.status_code == status, response.text
  error = response.json()["error"]
  assert message in error
  assert "\n" not in error and len(error) < 300
  # Still serving.
  assert search_page.process.poll() is None
  ok = _get(search_page, "api/search", text="blue", top_k=1)
  assert ok.status_code == 200 and ok.json()["count"] == 1


def test_method_and_route_errors_are_json(search_page):
  assert requests.put(search_page.url + "api/search",
                      timeout=60).status_code == 405
  missing = _get(search_page, "api/nothing")
  assert missing.status_code == 404 and "Not Found" in missing.json()["error"]


def _raw_get(page, path):
  """Status of GET `path` sent exactly as written (no client-side '..'
  normalisation)."""
  url = urllib.parse.urlsplit(page.url)
  connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
  try:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status
  finally:
    connection.close()


def test_path_traversal_gets_404(search_page):
  shard = os.path.join(search_page.gallery, "eval-00000-of-00001.tfrecord")
  here = os.path.abspath(__file__)
  paths = [
      "/api/thumbnail?id=../../../../etc/passwd",
      "/api/thumbnail?id=/etc/passwd",
      "/api/thumbnail?id=" + urllib.parse.quote(shard),
      "/api/thumbnail?id=" + urllib.parse.quote(here),
      "/api/thumbnail?id=eval_0000001/../eval_0000002",
      "/api/thumbnail/../../../../etc/passwd",
      "/static/../server.py",
      "/static/../../../../../etc/passwd",
      "/static/%2e%2e/server.py",
      "/static/..%2fserver.py",
      "/static/%2fetc%2fpasswd",
      "/static//etc/passwd",
      "/../../../etc/passwd",
  ]
  assert {p: _raw_get(search_page, p) for p in paths} == {
      p: 404 for p in paths}
  # An indexed id has one.
  assert _raw_get(search_page, "/api/thumbnail?id=eval_0000001") == 200


def test_thumbnails_of_image_files_by_id_only(search_page, tmp_path):
  """A collection of image files: ids are paths, looked up exactly among
  the indexed ones (Flask's test client on the same app)."""
  images = tmp_path / "images"
  images.mkdir()
  for name, colour in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255))):
    Image.new("RGB", (300, 200), colour).save(images / name)
  (images / "a.txt").write_text("a red rectangle\n")
  (tmp_path / "outside.png").write_bytes(_png_bytes())
  (images / "unindexed.png").write_bytes(_png_bytes())
  indexed = [str(images / "a.png"), str(images / "b.png")]
  index = search_lib.build_index(search_page.embedder, ",".join(indexed))
  assert index.ids == indexed
  store = items_lib.ItemStore.from_collection(str(images), "auto", index.ids)
  client = server_lib.create_app(page_search.SearchPage(
      index, search_page.embedder, store)).test_client()

  def status(item_id):
    return client.get("/api/thumbnail",
                      query_string={"id": item_id}).status_code

  ok = client.get("/api/thumbnail", query_string={"id": indexed[0]})
  assert ok.status_code == 200
  with Image.open(io.BytesIO(ok.data)) as picture:
    assert picture.size == (128, 85)  # Longest side 128, aspect kept.
  assert store.caption(indexed[0]) == "a red rectangle"
  assert store.caption(indexed[1]) is None
  for item_id in (str(images / "unindexed.png"), str(tmp_path / "outside.png"),
                  str(images / ".." / "images" / "a.png"),
                  "images/a.png", "../" * 8 + "etc/passwd", "/etc/passwd",
                  str(images)):
    assert status(item_id) == 404, item_id
  answer = client.get("/api/search",
                      query_string={"image_id": indexed[1], "top_k": 2}).json
  assert [r["id"] for r in answer["results"]] == indexed[::-1]
  assert answer["results"][1]["caption"] == "a red rectangle"


def test_listens_on_loopback_only(search_page):
  """Started without --host: bound to 127.0.0.1 (from /proc/net/tcp)."""
  url = urllib.parse.urlsplit(search_page.url)
  assert url.hostname == "127.0.0.1"
  with open("/proc/net/tcp") as f:
    listening = [line.split()[1] for line in f.readlines()[1:]
                 if line.split()[3] == "0A"]  # TCP_LISTEN
  assert f"0100007F:{url.port:04X}" in listening
  assert f"00000000:{url.port:04X}" not in listening


def test_concurrent_clients_no_errors(search_page):
  """200 queries from 8 concurrent clients: all answered, each the same as
  the same query alone."""
  texts = [f"a {c} {s}" for c in ("red", "blue", "green", "yellow", "white")
           for s in ("circle", "square", "star", "triangle")]
  alone = {t: _get(search_page, "api/search", text=t, top_k=5).json()
           for t in texts}

  def client(number):
    with requests.Session() as session:
      answers = []
      for i in range(25):
        text = texts[(number * 25 + i) % len(texts)]
        response = session.get(search_page.url + "api/search",
                               params={"text": text, "top_k": 5}, timeout=60)
        answers.append((text, response.status_code, response.json()))
      return answers

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = [a for part in pool.map(client, range(8)) for a in part]
  assert len(answers) == 200
  assert [a for a in answers if a[1] != 200] == []
  for text, _, answer in answers:
    assert_same_results(answer, [(r["id"], r["score"])
                                 for r in alone[text]["results"]])


def test_upload_limit_is_a_gin_binding(search_page):
  gin.parse_config("SearchPageConfig.max_upload_bytes = 1000")
  config = page_search.SearchPageConfig()
  assert config.max_upload_bytes == 1000
  client = server_lib.create_app(page_search.SearchPage(
      search_page.index, search_page.embedder, config=config)).test_client()
  response = client.post("/api/search", data={
      "image": (io.BytesIO(b"\x89PNG" + b"\0" * 2000), "big.png")})
  assert response.status_code == 413
  assert "limit of 1000 bytes" in response.json["error"]


def _run_cli(*args):
  """The search CLI in this process; its exit message, or None."""
  flags.FLAGS.unparse_flags()
  try:
    cli.main(flags.FLAGS(["search"] + list(args)))
  except SystemExit as e:
    return str(e.code)
  return None


def test_serve_cli_flags_and_errors(search_page, tmp_path):
  text = flags.FLAGS.module_help(cli)
  for name in ("--host", "--port", "--images", "--images_format"):
    assert name in text, name
  assert "127.0.0.1" in text
  with pytest.raises(app.UsageError, match="serve needs --index_dir"):
    _run_cli("serve", f"--hub_dir={search_page.embedder.source}")
  assert "No search index directory" in _run_cli(
      "serve", f"--index_dir={tmp_path / 'missing'}",
      f"--hub_dir={search_page.embedder.source}")
  # The running page's port is taken: one line, no traceback.
  port = urllib.parse.urlsplit(search_page.url).port
  message = _run_cli("serve", f"--index_dir={search_page.index_dir}",
                     f"--hub_dir={search_page.embedder.source}",
                     f"--port={port}")
  assert message.startswith("search: error:") and "in use" in message
  assert f"Cannot listen on 127.0.0.1:{port}" in message
  assert "\n" not in message
