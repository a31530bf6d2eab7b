# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""A synthetic "noisy alt-text" world for demos and end-to-end tests.

Images (RGB, sides drawn from `image_size`, 64-96 px by default) show one or
two coloured shapes on a plain or textured background. Captions read like
alt-texts from varied templates ("a small red circle on the left",
"IMG_0412.jpg red circle", "two shapes: a green star and a white cross"), and
a fraction of them (`noise_fraction`, default 0.2) is noise: junk ("click to
enlarge", file names) or the caption of another image.

Some colour-shape pairs (`held_out_pairs`, default 8 of the 48, one per
colour, at most two per shape, so every colour and shape is still seen) never
appear in training images or captions. The eval split has single-object
images of both seen and held-out pairs, clean captions and attribute labels,
for a compositional zero-shot test.

Output (in `output_dir`):
  train-XXXXX-of-YYYYY.tfrecord  img2dataset records (`shard_format`).
  eval-00000-of-00001.tfrecord   the held-out split, same format.
  eval_labels.json               [{key, colour, shape, size, position,
                                   pair, held_out, caption}, ...].
  metadata.json                  attribute lists, held-out pairs, counts.
  vocab.txt                      WordPiece vocab learned by `build_vocab`
                                 from the training captions.

  python -m official.align.demo.world --output_dir=/tmp/demo \
      --num_train=20000 --num_eval=2000 --seed=0

Deterministic given the seed: each example draws from its own
`np.random.default_rng([seed, split, index])`, so the worker count does not
change the output.
"""
import json
import multiprocessing
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf

from official.align.dataloaders import build_vocab
from official.align.dataloaders import shard_format
from official.align.demo import drawing

TEMPLATES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "templates.txt")

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white",
           "black")
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")
COLOUR_RGB = drawing.COLOUR_RGB

_TRAIN, _EVAL = 0, 1

_JUNK = ("click to enlarge", "image", "thumbnail", "untitled", "stock photo",
         "download now", "no description available", "www.example.com",
         "loading...", "photo {a} of {b}", "IMG_{n:04d}.jpg", "DSC{n:05d}",
         "screenshot {n}", "image{n}.png")

Pair = Tuple[str, str]


def class_names(pairs: Optional[Sequence[Pair]] = None) -> List[str]:
  """Zero-shot class names "colour shape" (all 48 pairs by default)."""
  if pairs is None:
    pairs = all_pairs()
  return [f"{c} {s}" for c, s in pairs]


def templates() -> List[str]:
  """The prompt templates of the demo's zero-shot evaluation (one "{}")."""
  with open(TEMPLATES_FILE) as f:
    return [line.strip() for line in f if line.strip()]


def all_pairs() -> List[Pair]:
  """The 48 (colour, shape) pairs, colour-major."""
  return [(c, s) for c in COLOURS for s in SHAPES]


def default_held_out_pairs(num: int = 8) -> List[Pair]:
  """`num` (<= 8) pairs, one per colour, shape index (5 i + 1) mod 6.

  Each colour loses at most one shape and each shape at most two colours, so
  every colour and every shape still appears in training.

  Args:
    num: number of held-out pairs, at most len(COLOURS).

  Returns:
    A list of (colour, shape).
  """
  if not 0 <= num <= len(COLOURS):
    raise ValueError(f"num must be in [0, {len(COLOURS)}], got {num}")
  return [(COLOURS[i], SHAPES[(5 * i + 1) % len(SHAPES)]) for i in range(num)]


def _a(word):
  """The indefinite article for `word`."""
  return "an" if word[0] in "aeiou" else "a"


def _caption_one(rng, obj, bg_kind, n):
  c, s, z, p = obj
  where = "in the center" if p == "center" else f"on the {p}"
  templates = (
      f"a {z} {c} {s} {where}", f"{z} {c} {s}", f"{c} {s}",
      f"IMG_{n:04d}.jpg {c} {s}", f"photo of {_a(c)} {c} {s}",
      f"{_a(c)} {c} {s}",
      f"{c} {s} clipart, {z}", f"the {s} is {c}",
      f"{c} {s} on a {bg_kind} background", f"{z} {c} {s} {where}",
  )
  return templates[rng.integers(len(templates))]


def _caption_two(rng, o1, o2):
  (c1, s1, _, _), (c2, s2, _, _) = o1, o2
  templates = (f"two shapes: {_a(c1)} {c1} {s1} and {_a(c2)} {c2} {s2}",
               f"{_a(c1)} {c1} {s1} and {_a(c2)} {c2} {s2}",
               f"{c1} {s1} next to {c2} {s2}",
               f"{c1} {s1}, {c2} {s2}")
  return templates[rng.integers(len(templates))]


def _junk(rng):
  t = _JUNK[rng.integers(len(_JUNK))]
  return t.format(a=int(rng.integers(1, 10)), b=int(rng.integers(10, 40)),
                  n=int(rng.integers(10000)))


def _make_examples(args):
  """Worker: renders examples [start, stop) of one split.

  Args:
    args: (seed, split, start, stop, size_range, allowed pairs, held-out
      pairs, two_object_fraction, eval_held_out_fraction).

  Returns:
    A list of dicts (key, image, width, height, caption, labels).
  """
  (seed, split, start, stop, size_range, allowed, held_out, two_fraction,
   eval_held_fraction) = args
  out = []
  for i in range(start, stop):
    rng = np.random.default_rng([seed, split, i])
    if split == _TRAIN:
      two = rng.random() < two_fraction
      pairs = [allowed[j] for j in rng.choice(len(allowed), 2 if two else 1,
                                              replace=False)]
    else:
      two = False
      pool = held_out if (held_out and
                          rng.random() < eval_held_fraction) else allowed
      pairs = [pool[rng.integers(len(pool))]]
    if two:
      positions = [POSITIONS[j] for j in rng.choice(4, 2, replace=False)]
    else:
      positions = [POSITIONS[rng.integers(len(POSITIONS))]]
    objects = [(c, s, SIZES[rng.integers(2)], p)
               for (c, s), p in zip(pairs, positions)]
    image, width, height, bg = drawing.render(rng, objects, size_range)
    if split == _EVAL:
      c, s, z, p = objects[0]
      where = "in the center" if p == "center" else f"on the {p}"
      caption = f"a {z} {c} {s} {where}"
    elif two:
      caption = _caption_two(rng, *objects)
    else:
      caption = _caption_one(rng, objects[0], bg, int(rng.integers(10000)))
    key = f"{'train' if split == _TRAIN else 'eval'}_{i:07d}"
    out.append({
        "key": key, "image": image, "width": width, "height": height,
        "caption": caption, "objects": objects,
        "noise_draw": float(rng.random()), "junk": _junk(rng),
        "swap_with": int(rng.integers(1 << 62)),
    })
  return out


def _generate_split(seed, split, num, size_range, allowed, held_out,
                    two_fraction, eval_held_fraction, num_workers):
  chunk = 500
  jobs = [(seed, split, s, min(s + chunk, num), size_range, allowed, held_out,
           two_fraction, eval_held_fraction) for s in range(0, num, chunk)]
  if num_workers > 1 and len(jobs) > 1:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(num_workers) as pool:
      parts = pool.map(_make_examples, jobs)
  else:
    parts = [_make_examples(j) for j in jobs]
  return [e for part in parts for e in part]


def _write_shards(examples, output_dir, prefix, num_shards) -> List[str]:
  paths = []
  for k in range(num_shards):
    path = os.path.join(output_dir,
                        f"{prefix}-{k:05d}-of-{num_shards:05d}.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
      for e in examples[k::num_shards]:
        w.write(shard_format.make_example(
            e["key"], e["image"], e["caption"], e["width"],
            e["height"]).SerializeToString())
    paths.append(path)
  return paths


@gin.configurable
def generate(output_dir: str,
             num_train: int = 20_000,
             num_eval: int = 2_000,
             image_size: Union[int, Tuple[int, int]] = (64, 96),
             seed: int = 0,
             noise_fraction: float = 0.2,
             held_out_pairs: Optional[Sequence[Pair]] = None,
             two_object_fraction: float = 0.25,
             eval_held_out_fraction: float = 0.5,
             num_train_shards: Optional[int] = None,
             vocab_size: int = 1000,
             write_vocab: bool = True,
             num_workers: Optional[int] = None) -> Dict:
  """Writes the demo world to `output_dir` (see the module docstring).

  Args:
    output_dir: created if missing.
    num_train: training pairs.
    num_eval: eval pairs (single object, clean captions, labelled).
    image_size: side in pixels, or (min, max) inclusive range from which
      width and height are drawn independently.
    seed: the whole output is a function of the seed and the arguments.
    noise_fraction: fraction of training captions replaced by noise (half
      junk, half the caption of another training image).
    held_out_pairs: (colour, shape) pairs absent from training;
      `default_held_out_pairs()` if None.
    two_object_fraction: fraction of training images with two shapes.
    eval_held_out_fraction: fraction of eval images showing a held-out pair.
    num_train_shards: default one per 5000 pairs.
    vocab_size: maximum size of the learned vocab.txt.
    write_vocab: learn and write vocab.txt.
    num_workers: processes for rendering; default min(4, cpu count).

  Returns:
    The metadata dict (also written to metadata.json).
  """
  if isinstance(image_size, int):
    image_size = (image_size, image_size)
  image_size = (int(image_size[0]), int(image_size[1]))
  if held_out_pairs is None:
    held_out_pairs = default_held_out_pairs()
  held_out = [tuple(p) for p in held_out_pairs]
  for c, s in held_out:
    if c not in COLOURS or s not in SHAPES:
      raise ValueError(f"Unknown pair {(c, s)}")
  allowed = [p for p in all_pairs() if p not in held_out]
  if num_workers is None:
    num_workers = min(4, os.cpu_count() or 1)
  tf.io.gfile.makedirs(output_dir)

  train = _generate_split(seed, _TRAIN, num_train, image_size, allowed,
                          held_out, two_object_fraction,
                          eval_held_out_fraction, num_workers)
  clean = [e["caption"] for e in train]
  num_noisy = 0
  for e in train:
    if e["noise_draw"] < noise_fraction:
      num_noisy += 1
      if e["noise_draw"] < noise_fraction / 2 or len(train) < 2:
        e["caption"] = e["junk"]
      else:
        e["caption"] = clean[e["swap_with"] % len(train)]
  evals = _generate_split(seed, _EVAL, num_eval, image_size, allowed,
                          held_out, two_object_fraction,
                          eval_held_out_fraction, num_workers)

  if num_train_shards is None:
    num_train_shards = max(1, num_train // 5000)
  train_files = _write_shards(train, output_dir, "train", num_train_shards)
  eval_files = _write_shards(evals, output_dir, "eval", 1)
  labels = []
  for e in evals:
    c, s, z, p = e["objects"][0]
    labels.append({"key": e["key"], "colour": c, "shape": s, "size": z,
                   "position": p, "pair": f"{c} {s}",
                   "held_out": (c, s) in held_out, "caption": e["caption"]})
  with tf.io.gfile.GFile(os.path.join(output_dir, "eval_labels.json"),
                         "w") as f:
    json.dump(labels, f, indent=0)

  metadata = {
      "colours": list(COLOURS), "shapes": list(SHAPES),
      "sizes": list(SIZES), "positions": list(POSITIONS),
      "held_out_pairs": [list(p) for p in held_out],
      "seen_pairs": [list(p) for p in allowed],
      "class_names": class_names(),
      "num_train": num_train, "num_eval": num_eval,
      "num_noisy_train_captions": num_noisy,
      "noise_fraction": noise_fraction, "image_size": list(image_size),
      "seed": seed,
      "train_files": [os.path.basename(p) for p in train_files],
      "eval_files": [os.path.basename(p) for p in eval_files],
  }
  if write_vocab and num_train:
    vocab = build_vocab.learn_vocab(train_files, vocab_size=vocab_size,
                                    lower_case=True,
                                    learn_params={"lower_thresh": 2})
    build_vocab.write_vocab(vocab, os.path.join(output_dir, "vocab.txt"))
    metadata["vocab_file"] = "vocab.txt"
    metadata["vocab_size"] = len(vocab)
  with tf.io.gfile.GFile(os.path.join(output_dir, "metadata.json"), "w") as f:
    json.dump(metadata, f, indent=1)
  return metadata


def main(argv):
  del argv
  f = flags.FLAGS
  size = ([int(v) for v in f.image_size.split(",")] if "," in f.image_size
          else int(f.image_size))
  meta = generate(f.output_dir, num_train=f.num_train, num_eval=f.num_eval,
                  image_size=size, seed=f.seed,
                  noise_fraction=f.noise_fraction, num_workers=f.num_workers)
  logging.info("Wrote %d train / %d eval pairs to %s", meta["num_train"],
               meta["num_eval"], f.output_dir)


def _define_flags():
  flags.DEFINE_string("output_dir", None, "Where to write the world.")
  flags.DEFINE_integer("num_train", 20_000, "Training pairs.")
  flags.DEFINE_integer("num_eval", 2_000, "Eval pairs.")
  flags.DEFINE_string("image_size", "64,96", "Side, or 'min,max' sides.")
  flags.DEFINE_integer("seed", 0, "Seed.")
  flags.DEFINE_float("noise_fraction", 0.2, "Fraction of noisy captions.")
  flags.DEFINE_integer("num_workers", None, "Rendering processes.")
  flags.mark_flag_as_required("output_dir")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
