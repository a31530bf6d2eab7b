# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Pure filtering rules of ALIGN's noisy image/alt-text corpus (paper §3).

Every function here works on plain Python values, so the rules are unit
tested without Beam; `filter_graph.py` composes them at scale.

Rules, in charging order (`RULE_ORDER`). A removed pair is charged to the
first rule it fails, so the per-rule counts add up to input - output:

1. `malformed`: the record is not a `tf.train.Example`, lacks the image or
   text feature, its text is not UTF-8, or its image header cannot be read
   (or, with the eval near-duplicate check on, its image cannot be decoded).
2. `image_size`: the image header declares more than `max_image_pixels`
   pixels (a decompression bomb: a 48 KB PNG can declare 20000 x 20000;
   metadata never vouches for it), or the shorter side <= `min_image_side`
   or the aspect ratio (long side / short side) >= `max_aspect_ratio`. For
   the side and ratio, sizes come from the width/height features when both
   are present (img2dataset's `original_*` give the size before its
   resizing), else from the image header.
3. `text_length`: fewer than `min_unigrams` or more than `max_unigrams`
   tokens.
4. `eval_near_duplicate`: the image's 64-bit dHash is within
   `eval_max_hamming_distance` bits of an eval image's dHash.
5. `image_alt_texts`: the image has more than `max_alt_texts_per_image`
   distinct alt-texts. "Same image" means identical image bytes (a hash of
   the encoded bytes), not a perceptual hash: exact, and cheap (no decoding).
6. `text_shared`: the exact alt-text is shared by more than
   `max_images_per_text` distinct images (identity as in rule 5).
7. `vocabulary`: a unigram or bigram of the text is outside the vocabulary,
   i.e. the `vocabulary_size` most frequent unigrams and bigrams (ranked
   together) of the corpus.

Rules 5-7 use corpus statistics computed over all records that are not
`malformed` (including ones failing rules 2-4), so each rule is a fixed
predicate and the order only decides which rule is charged.

Tokens are maximal runs of Unicode word characters, lower-cased; a bigram is
two adjacent tokens joined by a space. The frequency of an n-gram is the
number of pairs whose text contains it.
"""
import dataclasses
import hashlib
import io
import re
from typing import Iterable, Mapping, Sequence
import warnings

from google.protobuf import message
import numpy as np
from PIL import Image
import tensorflow as tf

from official.align.dataloaders import image_headers
from official.align.dataloaders import shard_format

MALFORMED = "malformed"
IMAGE_SIZE = "image_size"
TEXT_LENGTH = "text_length"
EVAL_NEAR_DUPLICATE = "eval_near_duplicate"
IMAGE_ALT_TEXTS = "image_alt_texts"
TEXT_SHARED = "text_shared"
VOCABULARY = "vocabulary"

RULE_ORDER = (MALFORMED, IMAGE_SIZE, TEXT_LENGTH, EVAL_NEAR_DUPLICATE,
              IMAGE_ALT_TEXTS, TEXT_SHARED, VOCABULARY)

_TOKEN_RE = re.compile(r"\w+")
_HASH_SIZE = 8  # dHash of (8 + 1) x 8 pixels: 64 bits.


@dataclasses.dataclass(frozen=True)
class FilterConfig:
  """Thresholds of the rules; the defaults are the paper's."""
  min_image_side: int = 200
  max_aspect_ratio: float = 3.0
  max_alt_texts_per_image: int = 1000
  max_images_per_text: int = 10
  vocabulary_size: int = 100_000_000
  min_unigrams: int = 3
  max_unigrams: int = 20
  eval_max_hamming_distance: int = 4
  # Above PIL's own bomb limit (2 * PIL.Image.MAX_IMAGE_PIXELS, 179e6 by
  # default), PIL refuses to open an image at all: keep this below it.
  max_image_pixels: int = image_headers.DEFAULT_MAX_PIXELS


@dataclasses.dataclass(frozen=True)
class Pair:
  """The fields of one record that the rules read."""
  image: bytes
  text: str
  width: int | None
  height: int | None


def parse_record(record: bytes,
                 keys: shard_format.FeatureKeys = shard_format.DEFAULT_KEYS
                 ) -> Pair | None:
  """Parses a serialized `tf.train.Example`; `None` if it is malformed."""
  try:
    example = tf.train.Example.FromString(record)
  except message.DecodeError:
    return None
  feature = example.features.feature
  image = _single_bytes(feature, keys.image)
  text = _single_bytes(feature, keys.text)
  if image is None or text is None:
    return None
  try:
    decoded_text = text.decode("utf-8")
  except UnicodeDecodeError:
    return None
  return Pair(image=image, text=decoded_text,
              width=_single_int(feature, keys.width),
              height=_single_int(feature, keys.height))


def _single_bytes(feature, name: str) -> bytes | None:
  if name not in feature or len(feature[name].bytes_list.value) != 1:
    return None
  return feature[name].bytes_list.value[0]


def _single_int(feature, name: str) -> int | None:
  if name not in feature or len(feature[name].int64_list.value) != 1:
    return None
  return int(feature[name].int64_list.value[0])


# What `read_image_size` gives for an image PIL refuses as a decompression
# bomb: above any pixel cap.
BOMB_SIZE = (2**31, 2**31)


def read_image_size(image: bytes) -> tuple[int, int] | None:
  """(width, height) from the image header (no pixel decoding), or `None`.

  An image PIL refuses to open as a decompression bomb gives `BOMB_SIZE`.
  """
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      with Image.open(io.BytesIO(image)) as img:
        return img.size
  except Image.DecompressionBombError:
    return BOMB_SIZE
  except (OSError, ValueError):
    return None


def image_size_ok(width: int, height: int, config: FilterConfig) -> bool:
  """Shorter side > `min_image_side` and aspect ratio < `max_aspect_ratio`."""
  short, long = sorted((width, height))
  return (short > config.min_image_side
          and long < config.max_aspect_ratio * short)


def tokenize(text: str) -> list[str]:
  """Lower-cased runs of Unicode word characters."""
  return _TOKEN_RE.findall(text.lower())


def ngrams(tokens: Sequence[str]) -> set[str]:
  """The distinct unigrams and bigrams (space-joined) of `tokens`."""
  bigrams = (f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
  return set(tokens).union(bigrams)


def text_length_ok(tokens: Sequence[str], config: FilterConfig) -> bool:
  return config.min_unigrams <= len(tokens) <= config.max_unigrams


def dhash(image: bytes) -> int | None:
  """64-bit difference hash of an encoded image; `None` if undecodable.

  Grayscale, resized to 9x8, one bit per horizontally adjacent pixel pair
  (left brighter than right). JPEGs are decoded at reduced scale (`draft`).
  """
  try:
    with Image.open(io.BytesIO(image)) as img:
      img.draft("L", (4 * (_HASH_SIZE + 1), 4 * _HASH_SIZE))
      small = img.convert("L").resize((_HASH_SIZE + 1, _HASH_SIZE),
                                      Image.Resampling.LANCZOS)
  except (OSError, ValueError, Image.DecompressionBombError):
    return None
  pixels = np.asarray(small, dtype=np.int16)
  bits = (pixels[:, :-1] > pixels[:, 1:]).flatten()
  return int.from_bytes(np.packbits(bits).tobytes(), "big")


def min_hamming_distance(image_hash: int, eval_hashes: np.ndarray) -> int:
  """Least Hamming distance from `image_hash` to uint64s (64 if none)."""
  if eval_hashes.size == 0:
    return 64
  distances = np.bitwise_count(eval_hashes ^ np.uint64(image_hash))
  return int(distances.min())


def first_record_failure(pair: Pair | None,
                         config: FilterConfig,
                         eval_hashes: np.ndarray | None = None) -> str | None:
  """The first failing per-record rule (1-4), or `None`.

  Costly checks run only when the cheaper, earlier rules pass (no image is
  decoded before its header passed `max_image_pixels`). Without
  `eval_hashes` the near-duplicate rule is off.
  """
  if pair is None:
    return MALFORMED
  # Always read the header: metadata may lie about a bomb.
  header_size = read_image_size(pair.image)
  if header_size is None:
    return MALFORMED
  if header_size[0] * header_size[1] > config.max_image_pixels:
    return IMAGE_SIZE
  if pair.width is not None and pair.height is not None:
    size = (pair.width, pair.height)
  else:
    size = header_size
  if not image_size_ok(*size, config):
    return IMAGE_SIZE
  if not text_length_ok(tokenize(pair.text), config):
    return TEXT_LENGTH
  if eval_hashes is not None:
    image_hash = dhash(pair.image)
    if image_hash is None:
      return MALFORMED
    if (min_hamming_distance(image_hash, eval_hashes)
        <= config.eval_max_hamming_distance):
      return EVAL_NEAR_DUPLICATE
  return None


def exceeds_distinct(values: Iterable[object], limit: int) -> bool:
  """Whether `values` holds more than `limit` distinct items (stops early)."""
  seen = set()
  for value in values:
    seen.add(value)
    if len(seen) > limit:
      return True
  return False


def vocabulary_min_count(count_histogram: Mapping[int, int],
                         vocabulary_size: int) -> int:
  """The frequency cut-off of the top-`vocabulary_size` vocabulary.

  Args:
    count_histogram: frequency -> number of distinct n-grams with it.
    vocabulary_size: the most n-grams the vocabulary may hold.

  Returns:
    The lowest frequency in the vocabulary: the n-grams with frequency >= it.
    The vocabulary is the largest set of most frequent n-grams holding at
    most `vocabulary_size`; n-grams tied at the boundary are all left out, so
    it does not depend on an arbitrary tie-break (and may hold fewer than
    `vocabulary_size`). Above every frequency if the vocabulary is empty.
  """
  in_vocabulary = 0
  min_count = max(count_histogram, default=0) + 1
  for count in sorted(count_histogram, reverse=True):
    in_vocabulary += count_histogram[count]
    if in_vocabulary > vocabulary_size:
      break
    min_count = count
  return min_count


def first_failure(failed_rules: Iterable[str]) -> str | None:
  """The rule charged for a pair failing `failed_rules` (`None`: kept)."""
  failed = set(failed_rules)
  return next((rule for rule in RULE_ORDER if rule in failed), None)


def content_hash(data: bytes) -> bytes:
  """A 128-bit hash naming identical bytes (images, record positions)."""
  return hashlib.blake2b(data, digest_size=16).digest()
