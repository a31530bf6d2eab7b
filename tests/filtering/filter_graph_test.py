"""Each rule of the filter's graph removes its keys; the report is exact.

One fixture corpus where each rule removes a known set of keys, run end to
end on the DirectRunner through the command-line entry point
(`beam_pipeline`).
"""
import glob
import json
import os

from absl.testing import flagsaver

from filtering import fixtures
from official.align.filtering import beam_pipeline
from official.align.filtering import rules

_DIRECT = ["--runner=DirectRunner", "--direct_num_workers=1",
           "--direct_running_mode=in_memory"]
SENTENCE = "one two three four five six seven eight"

# key -> (image, text, width, height, charged rule or None for kept).
# Images are tiny; width/height metadata stands in for their real size.
_B = fixtures.noise_image(100)  # One image with 5 distinct alt-texts.


def _corpus(near_duplicate: bytes):
  big = (640, 480)
  return {
      "a.tfrecord": {
          "k1": (fixtures.noise_image(1), SENTENCE, *big, None),
          "k2": (fixtures.noise_image(2), SENTENCE, *big, None),
          "k3": (fixtures.noise_image(3), "one two three", 480, 640, None),
          "k4": (fixtures.noise_image(4), "six seven eight", *big, None),
          # No metadata: the header says 240x240.
          "k5": (fixtures.noise_image(5, size=240), "three four five six",
                 None, None, None),
          "s1": (fixtures.noise_image(6), "two three four", 200, 480,
                 rules.IMAGE_SIZE),
          "s2": (fixtures.noise_image(7), "three four five", 900, 300,
                 rules.IMAGE_SIZE),
          "s3": (fixtures.noise_image(8), "four five six", None, None,
                 rules.IMAGE_SIZE),  # 16x16 from the header.
          "t1": (fixtures.noise_image(9), "one two", *big, rules.TEXT_LENGTH),
          "t2": (fixtures.noise_image(10), SENTENCE + " eight", *big,
                 rules.TEXT_LENGTH),
          "e1": (near_duplicate, "five six seven", *big,
                 rules.EVAL_NEAR_DUPLICATE),
          # A decompression bomb (48 KB, 20000 x 20000 in its header)
          # whose metadata looks fine.
          "z1": (fixtures.png_bomb(), "one two three", *big,
                 rules.IMAGE_SIZE),
      },
      "b.tfrecord": {
          "b1": (_B, "one two three four", *big, rules.IMAGE_ALT_TEXTS),
          "b2": (_B, "two three four five", *big, rules.IMAGE_ALT_TEXTS),
          "b3": (_B, "four five six seven", *big, rules.IMAGE_ALT_TEXTS),
          "b4": (_B, "five six seven eight", *big, rules.IMAGE_ALT_TEXTS),
          # Fails text_length too, which comes first.
          "b5": (_B, "One, two!", *big, rules.TEXT_LENGTH),
          "c1": (fixtures.noise_image(11), "two three four five six", *big,
                 rules.TEXT_SHARED),
          "c2": (fixtures.noise_image(12), "two three four five six", *big,
                 rules.TEXT_SHARED),
          "c3": (fixtures.noise_image(13), "two three four five six", *big,
                 rules.TEXT_SHARED),
          # Rare unigram "zebra"; rare bigram "eight one".
          "v1": (fixtures.noise_image(14), "one two zebra", *big,
                 rules.VOCABULARY),
          "v2": (fixtures.noise_image(15), "seven eight one", *big,
                 rules.VOCABULARY),
          "m3": (b"not an image", "one two three four", None, None,
                 rules.MALFORMED),
      },
  }


def _write_inputs(tmp_path):
  """Writes the corpus; returns (input glob, eval glob, kept records)."""
  eval_dir = tmp_path / "eval"
  eval_dir.mkdir()
  pixels = fixtures.wave_pixels(64, 0.0)
  (eval_dir / "e.png").write_bytes(fixtures.encode(pixels, fmt="PNG"))
  (eval_dir / "f.png").write_bytes(
      fixtures.encode(fixtures.wave_pixels(64, 2.0), fmt="PNG"))
  near_duplicate = fixtures.resized_copy(pixels, 48, quality=80)

  input_dir = tmp_path / "input"
  input_dir.mkdir()
  kept = {}
  for shard, pairs in _corpus(near_duplicate).items():
    records = []
    for key, (image, text, width, height, rule) in pairs.items():
      records.append(fixtures.example(key, image, text, width, height))
      if rule is None:
        kept[key] = records[-1]
    if shard == "b.tfrecord":
      records += [b"\xff\xfe not an example",  # m1
                  fixtures.example("m2", fixtures.noise_image(16), None)]
    fixtures.write_shard(str(input_dir / shard), records)

  # A truncated shard: readable records, then cut framing. If its records
  # leaked, SENTENCE would have 4 images and k1, k2 would be dropped.
  corrupt = str(input_dir / "c.tfrecord")
  fixtures.write_shard(corrupt, [
      fixtures.example(f"x{i}", fixtures.noise_image(20 + i), SENTENCE,
                       640, 480) for i in range(3)])
  with open(corrupt, "rb+") as f:
    f.truncate(os.path.getsize(corrupt) - 5)
  return str(input_dir / "*.tfrecord"), str(eval_dir / "*.png"), kept


def test_each_rule_removes_its_keys(tmp_path):
  input_pattern, eval_glob, kept = _write_inputs(tmp_path)
  output_dir = str(tmp_path / "out")
  with flagsaver.flagsaver():
    beam_args = beam_pipeline.parse_flags([
        "beam_pipeline", f"--input_pattern={input_pattern}",
        f"--output_dir={output_dir}", f"--eval_images={eval_glob}",
        "--num_output_shards=2", "--max_alt_texts_per_image=3",
        "--max_images_per_text=2", "--vocabulary_size=15",
        "--max_unigrams=8", *_DIRECT])
    assert beam_args == ["beam_pipeline", *_DIRECT]
    beam_pipeline.main(beam_args)

  shards = sorted(glob.glob(os.path.join(output_dir, "filtered-*")))
  assert [os.path.basename(s) for s in shards] == [
      "filtered-00000-of-00002.tfrecord", "filtered-00001-of-00002.tfrecord"]
  records = [r for s in shards for r in fixtures.read_shard(s)]
  assert {fixtures.record_key(r): r for r in records} == kept  # Byte-equal.
  assert len(records) == len(kept)
  assert sorted(os.listdir(output_dir)) == [
      *[os.path.basename(s) for s in shards], "report.json"]

  with open(os.path.join(output_dir, "report.json")) as f:
    report = json.load(f)
  b_shard = os.path.join(os.path.dirname(input_pattern), "b.tfrecord")
  (unreadable,) = report.pop("unreadable_shards")
  assert unreadable["path"].endswith("c.tfrecord")
  assert "Not a valid TFRecord" in unreadable["error"]
  assert report == {
      "input_pairs": 25,
      "output_pairs": 5,
      "removed": {"malformed": 3, "image_size": 4, "text_length": 3,
                  "eval_near_duplicate": 1, "image_alt_texts": 4,
                  "text_shared": 3, "vocabulary": 2},
      "rule_order": list(rules.RULE_ORDER),
      "input_shards": 3,
      "shards_with_malformed_records": {b_shard: 3},
      # The 8 unigrams + 7 bigrams of SENTENCE, the rarest ("seven eight")
      # in 6 pairs; 4 out: "eight eight", "zebra", "two zebra", "eight one".
      "vocabulary": {"top_n": 15, "min_count": 6, "size": 15,
                     "distinct_ngrams": 19},
      "eval_images": 2,
      "config": {"min_image_side": 200, "max_aspect_ratio": 3.0,
                 "max_alt_texts_per_image": 3, "max_images_per_text": 2,
                 "vocabulary_size": 15, "min_unigrams": 3,
                 "max_unigrams": 8, "eval_max_hamming_distance": 4,
                 "max_image_pixels": 2**27},
  }
