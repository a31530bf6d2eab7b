"""`page_search.parse_query`: request fields to a checked `Query` (no model).

The HTTP status and message of each bad input, end to end, are in
server_test.py; this checks the parsing rules themselves.
"""
import re

import pytest

from official.align.search import page_search

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
CONFIG = page_search.SearchPageConfig(max_top_k=50, default_top_k=7,
                                      max_text_chars=20)


def test_defaults_and_values():
  query = page_search.parse_query({"text": "a blue circle"}, config=CONFIG)
  assert query == page_search.Query(text="a blue circle", image_weight=1.0,
                                    text_weight=2.0, top_k=7)
  query = page_search.parse_query(
      {"text": "blue", "image_weight": "-1.5", "text_weight": "8",
       "top_k": "50"}, PNG, CONFIG)
  assert (query.image, query.image_weight, query.text_weight,
          query.top_k) == (PNG, -1.5, 8.0, 50)
  # Empty fields count as absent: the page sends what its inputs hold.
  query = page_search.parse_query(
      {"text": "  ", "image_weight": "", "top_k": ""}, PNG, CONFIG)
  assert (query.text, query.image_weight, query.top_k) == (None, 1.0, 7)
  query = page_search.parse_query({"image_id": "eval_0000003"},
                                  config=CONFIG)
  assert query.image_id == "eval_0000003" and query.text is None


@pytest.mark.parametrize("fields,image,status,message", [
    ({}, None, 400, "query is empty"),
    ({"text": " \t"}, None, 400, "query is empty"),
    ({"image_id": ""}, None, 400, "query is empty"),
    ({"image_id": "x"}, PNG, 400, "not both"),
    ({}, b"", 400, "empty (0 bytes)"),
    ({}, b"GIF87", None, None),  # GIF magic: accepted here.
    ({}, b"%PDF-1.4", 415, "not an image"),
    ({"text": "x" * 21}, None, 400,
     "21 characters long; the limit is 20"),
    ({"text": "a", "top_k": "0"}, None, 400, "from 1 to 50, got '0'"),
    ({"text": "a", "top_k": "51"}, None, 400, "from 1 to 50, got '51'"),
    ({"text": "a", "top_k": "2.5"}, None, 400, "got '2.5'"),
    ({"text": "a", "image_weight": "inf"}, None, 400,
     "image_weight must be a finite number, got 'inf'"),
    ({"text": "a", "text_weight": "two"}, None, 400,
     "text_weight must be a finite number, got 'two'"),
])
def test_bad_fields(fields, image, status, message):
  if status is None:
    assert page_search.parse_query(fields, image, CONFIG).image == image
    return
  with pytest.raises(page_search.QueryError, match=re.escape(message)) as raised:
    page_search.parse_query(fields, image, CONFIG)
  assert raised.value.status == status
  assert "\n" not in str(raised.value)
