# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""The search page: a Flask app served by Waitress.

  python -m official.align.search serve --index_dir=runs/demo/index \
      --hub_dir=runs/demo/export [--host=127.0.0.1] [--port=8080]

Routes (all errors are JSON `{"error": "<one line>"}` with a 4xx status; the
server keeps serving):

  GET  /                  the page (static/index.html, app.js, style.css:
                          plain HTML and JavaScript, no build step).
  GET  /api/info          index size, model, limits and defaults.
  GET  /api/search        text=..., image_id=..., image_weight=...,
                          text_weight=..., top_k=...
  POST /api/search        the same as multipart/form-data fields, plus the
                          file field `image` (an uploaded query image).
  GET  /api/thumbnail     id=<item id>: JPEG thumbnail of an indexed item.

A search answers `{"results": [{"rank", "id", "score", "caption",
"thumbnail"}, ...], "count", "seconds"}`; `page_search` checks and answers the
query, `items` finds thumbnails by item id. A request body over
`SearchPageConfig.max_upload_bytes` (10 MB) gets 413.
"""
import logging as std_logging
import os
import socket
import sys
import urllib.parse

from absl import logging
import flask
import waitress.server
from werkzeug import exceptions

from official.align.search import page_search

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "static")
LOOPBACK = "127.0.0.1"


def _error(message: str, status: int) -> flask.Response:
  response = flask.jsonify(error=" ".join(str(message).split()))
  response.status_code = status
  return response


def create_app(page: page_search.SearchPage) -> flask.Flask:
  """The Flask app serving `page` (see the module doc)."""
  app = flask.Flask(__name__, static_folder=STATIC_DIR,
                    static_url_path="/static")
  config = page.config
  app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
  app.json.sort_keys = False
  # "/static//etc/passwd" is a 404, not a redirect to "/static/etc/passwd".
  app.url_map.merge_slashes = False

  @app.get("/")
  def index_page():
    return flask.send_from_directory(STATIC_DIR, "index.html")

  @app.get("/api/info")
  def info():
    return flask.jsonify(page.info())

  @app.route("/api/search", methods=["GET", "POST"])
  def search():
    request = flask.request
    image = None
    if request.method == "POST":
      fields = request.form
      upload = request.files.get("image")
      if upload is not None:
        image = upload.read()
      elif "image" in fields:
        raise page_search.QueryError(
            "image must be an uploaded file (multipart/form-data).")
    else:
      fields = request.args
    query = page_search.parse_query(fields, image, config)
    answer = page.search(query)
    for row in answer["results"]:
      row["thumbnail"] = "/api/thumbnail?" + urllib.parse.urlencode(
          {"id": row["id"]})
    return flask.jsonify(answer)

  @app.get("/api/thumbnail")
  def thumbnail():
    item_id = flask.request.args.get("id", "")
    data = page.thumbnail(item_id)
    if data is None:
      return _error(f"No thumbnail for id {item_id!r}.", 404)
    response = flask.make_response(data)
    response.headers["Content-Type"] = "image/jpeg"
    response.headers["Cache-Control"] = "max-age=3600"
    return response

  @app.errorhandler(page_search.QueryError)
  def query_error(e):
    return _error(str(e), e.status)

  @app.errorhandler(exceptions.RequestEntityTooLarge)
  def too_large(_):
    limit = config.max_upload_bytes
    return _error(f"The upload is larger than the limit of {limit} bytes "
                  f"({limit / 2 ** 20:g} MB, "
                  "SearchPageConfig.max_upload_bytes).", 413)

  @app.errorhandler(exceptions.HTTPException)
  def http_error(e):
    return _error(f"{e.name}: {e.description}", e.code)

  @app.errorhandler(Exception)
  def internal_error(e):
    logging.exception("search page: %s", e)
    return _error(f"Internal error: {type(e).__name__}: {e}", 500)

  return app


def check_port_free(host: str = LOOPBACK, port: int = 8080) -> None:
  """Raises OSError if `host:port` cannot be bound (e.g. it is in use).

  For the CLI to check before it spends seconds loading a model; `serve`
  binds again (and reports a port taken in between).
  """
  if port == 0:  # Any free port.
    return
  try:
    socket.create_server((host, port)).close()
  except OSError as e:
    raise OSError(f"Cannot listen on {host}:{port}: {e.strerror} (give "
                  "another --port; 0 picks a free one)") from e


def make_server(page: page_search.SearchPage, host: str = LOOPBACK,
                port: int = 8080):
  """A Waitress server of `create_app(page)`, bound but not yet serving.

  Args:
    page: what to serve.
    host: address to bind; 127.0.0.1 (default) is this machine only.
    port: port; 0 picks a free one (see `server.effective_port`).

  Returns:
    The server: `run()` serves until interrupted, `close()` stops it.
  """
  config = page.config
  return waitress.server.create_server(
      create_app(page), host=host, port=port, threads=config.threads,
      # Waitress buffers bodies before the app sees them: refuse far larger
      # ones early (Flask answers those just over the limit).
      max_request_body_size=config.max_upload_bytes + 2 ** 20,
      ident="align-search", clear_untrusted_proxy_headers=True)


def serve(page: page_search.SearchPage, host: str = LOOPBACK,
          port: int = 8080, out=None) -> None:
  """Serves `page` until interrupted; prints the page's URL first.

  Args:
    page: what to serve.
    host: address to bind (127.0.0.1: this machine only).
    port: port; 0 picks a free one.
    out: where the URL line goes (default stdout).
  """
  out = out or sys.stdout
  server = make_server(page, host, port)
  bound_host, bound_port = server.effective_host, server.effective_port
  # Waitress warns at every queued request once all threads are busy (e.g.
  # more concurrent clients than threads): normal load here, not a fault.
  std_logging.getLogger("waitress.queue").setLevel(std_logging.ERROR)
  if host != LOOPBACK:
    print(f"Warning: serving on {bound_host}, reachable from other machines "
          "(--host); 127.0.0.1 keeps the page to this machine.",
          file=sys.stderr)
  info = page.info()
  print(f"Search page of {info['count']} images on "
        f"http://{bound_host}:{bound_port}/ (Ctrl-C stops it)", file=out,
        flush=True)
  try:
    server.run()
  except KeyboardInterrupt:
    pass
  finally:
    server.close()
