"""Unit tests of the pure filtering rules (no Beam)."""
from hypothesis import given
from hypothesis import strategies as st
import numpy as np
import pytest

from filtering import fixtures
from official.align.dataloaders import shard_format
from official.align.filtering import rules

CONFIG = rules.FilterConfig()


@pytest.mark.parametrize("width,height,ok", [
    (201, 201, True),
    (200, 480, False),   # Shorter side must be > 200.
    (480, 200, False),
    (600, 201, True),    # Aspect 2.99.
    (603, 201, False),   # Aspect 3: must be < 3.
    (201, 603, False),
])
def test_image_size_ok(width, height, ok):
  assert rules.image_size_ok(width, height, CONFIG) is ok


def test_read_image_size_from_header():
  png = fixtures.encode(np.zeros((30, 50, 3)), fmt="PNG")
  assert rules.read_image_size(png) == (50, 30)
  assert rules.read_image_size(b"not an image") is None


def test_tokenize_and_ngrams():
  tokens = rules.tokenize("A red-dog, on GRASS!")
  assert tokens == ["a", "red", "dog", "on", "grass"]
  assert rules.ngrams(["a", "b", "a", "b"]) == {"a", "b", "a b", "b a"}
  assert rules.ngrams([]) == set()


@pytest.mark.parametrize("text,ok", [
    ("one two", False), ("one two three", True),
    (" ".join(["w"] * 20), True), (" ".join(["w"] * 21), False)])
def test_text_length_ok(text, ok):
  assert rules.text_length_ok(rules.tokenize(text), CONFIG) is ok


def test_parse_record():
  record = fixtures.example("k", b"img", "a caption", 640, 480)
  assert rules.parse_record(record) == rules.Pair(b"img", "a caption", 640,
                                                  480)
  no_size = rules.parse_record(fixtures.example("k", b"img", "t"))
  assert (no_size.width, no_size.height) == (None, None)


@pytest.mark.parametrize("record", [
    b"\xff\xfe not an example",
    fixtures.example("k", b"img", None),
    fixtures.example("k", None, "text"),
    fixtures.example("k", b"img", b"\xff\xfe invalid utf-8"),
], ids=["not_an_example", "no_caption", "no_image", "invalid_utf8"])
def test_parse_record_malformed(record):
  assert rules.parse_record(record) is None


def test_parse_record_custom_keys():
  keys = shard_format.FeatureKeys(image="image", text="caption")
  record = shard_format.make_example("k", b"img", "t", keys=keys)
  assert rules.parse_record(record.SerializeToString(), keys).text == "t"
  assert rules.parse_record(record.SerializeToString()) is None


def test_dhash_survives_resize_and_reencoding():
  original = fixtures.encode(fixtures.wave_pixels(64, 0.0), fmt="PNG")
  copy = fixtures.resized_copy(fixtures.wave_pixels(64, 0.0), 48, quality=70)
  other = fixtures.encode(fixtures.wave_pixels(64, 2.0), fmt="PNG")
  hashes = np.array([rules.dhash(original)], dtype=np.uint64)
  assert rules.min_hamming_distance(rules.dhash(copy), hashes) <= 4
  assert rules.min_hamming_distance(rules.dhash(other), hashes) > 16
  assert rules.min_hamming_distance(rules.dhash(fixtures.noise_image(0)),
                                    hashes) > 16
  assert rules.dhash(b"not an image") is None


def test_min_hamming_distance():
  hashes = np.array([0b1111, 2**64 - 1], dtype=np.uint64)
  assert rules.min_hamming_distance(0, hashes) == 4
  assert rules.min_hamming_distance(2**64 - 2, hashes) == 1
  assert rules.min_hamming_distance(0, np.array([], dtype=np.uint64)) == 64


def _pair(image=None, text="one two three", width=640, height=480):
  return rules.Pair(image or fixtures.noise_image(0), text, width, height)


def test_first_record_failure_order():
  evals = np.array([rules.dhash(fixtures.noise_image(1))], dtype=np.uint64)
  assert rules.first_record_failure(None, CONFIG) == rules.MALFORMED
  # No size metadata and an unreadable header: malformed.
  assert rules.first_record_failure(
      _pair(b"junk", width=None, height=None), CONFIG) == rules.MALFORMED
  # Size metadata wins over the (16x16) header.
  assert rules.first_record_failure(_pair(), CONFIG) is None
  assert rules.first_record_failure(
      _pair(width=None, height=None), CONFIG) == rules.IMAGE_SIZE
  assert rules.first_record_failure(
      _pair(text="one two", width=100), CONFIG) == rules.IMAGE_SIZE
  assert rules.first_record_failure(
      _pair(fixtures.noise_image(1), text="one two"), CONFIG,
      evals) == rules.TEXT_LENGTH
  assert rules.first_record_failure(
      _pair(fixtures.noise_image(1)), CONFIG, evals) == (
          rules.EVAL_NEAR_DUPLICATE)
  assert rules.first_record_failure(_pair(), CONFIG, evals) is None
  # The header is always read (bomb check): metadata does not vouch for it.
  assert rules.first_record_failure(_pair(b"junk"), CONFIG) == rules.MALFORMED
  assert rules.first_record_failure(_pair(b"junk"), CONFIG,
                                    evals) == rules.MALFORMED


def test_exceeds_distinct_stops_early():
  def values():
    yield from ["a", "b", "a", "c"]
    raise AssertionError("read past the limit")
  assert rules.exceeds_distinct(values(), 2)
  assert not rules.exceeds_distinct(["a", "b", "a", "b"], 2)


def test_first_failure_follows_rule_order():
  assert rules.first_failure([]) is None
  assert rules.first_failure([rules.VOCABULARY, rules.TEXT_SHARED,
                              rules.IMAGE_ALT_TEXTS]) == rules.IMAGE_ALT_TEXTS
  assert rules.first_failure([rules.VOCABULARY,
                              rules.MALFORMED]) == rules.MALFORMED


def test_vocabulary_min_count_leaves_out_boundary_ties():
  histogram = {10: 2, 5: 3, 1: 100}
  assert rules.vocabulary_min_count(histogram, 5) == 5
  assert rules.vocabulary_min_count(histogram, 4) == 10
  assert rules.vocabulary_min_count(histogram, 105) == 1
  assert rules.vocabulary_min_count(histogram, 1) == 11  # Empty vocabulary.
  assert rules.vocabulary_min_count({}, 3) == 1


@given(st.lists(st.integers(1, 50), max_size=40), st.integers(0, 45))
def test_vocabulary_is_largest_tie_closed_top_n(counts, top_n):
  histogram = {}
  for count in counts:
    histogram[count] = histogram.get(count, 0) + 1
  min_count = rules.vocabulary_min_count(histogram, top_n)
  size = sum(1 for c in counts if c >= min_count)
  assert size <= top_n
  # Taking the next frequency group would exceed top_n.
  lower = [c for c in counts if c < min_count]
  if lower:
    assert size + lower.count(max(lower)) > top_n
