"""Image+text query arithmetic through `search_lib` on synthetic embeddings.

A fake `Embedder` places "images" at normalize(colour + shape + noise) and
the text "<colour>" at the colour direction, the geometry the paper's
image+text queries rely on. Query images are files holding the item's name.
"""
import numpy as np
import pytest
import tensorflow as tf

from official.align.inference import queries
from official.align.inference import embedder as embedder_lib
from official.align.search import index as index_lib
from official.align.search import search_lib

COLOURS = ("red", "blue", "green", "yellow")
SHAPES = ("circle", "square", "triangle")
DIM = 32


@pytest.fixture(scope="module")
def world():
  rng = np.random.default_rng(0)
  basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0]
  colour = dict(zip(COLOURS, basis[:len(COLOURS)]))
  shape = dict(zip(SHAPES, basis[len(COLOURS):len(COLOURS) + len(SHAPES)]))
  ids, vectors, items = [], [], {}
  for c in COLOURS:
    for s in SHAPES:
      for n in range(5):
        v = colour[c] + shape[s] + 0.15 * rng.standard_normal(DIM)
        ids.append(f"{c} {s} {n}")
        vectors.append(v)
        items[f"{c} {s} {n}"] = v

  def encode_texts(texts):
    # "" is embedded once to learn the size.
    return tf.constant(np.stack([colour.get(t.decode(), np.ones(DIM))
                                 for t in texts.numpy()]),
                       tf.float32)

  def encode_image_bytes(data):
    return tf.constant(np.stack([items[b.decode()] for b in data.numpy()]),
                       tf.float32)

  embedder = embedder_lib.Embedder(encode_texts=encode_texts,
                                encode_images=None,
                                encode_image_bytes=encode_image_bytes,
                                source="synthetic")
  index = index_lib.SearchIndex.build(np.stack(vectors), ids)
  return embedder, index


def _colours(results):
  return [item_id.split()[0] for item_id, _ in results]


def test_image_plus_text_moves_the_colour(world, tmp_path):
  embedder, index = world
  red_circle = tmp_path / "query.png"
  red_circle.write_bytes(b"red circle 0")
  image_only = search_lib.search(index, embedder, image=str(red_circle),
                                 top_k=5)
  assert _colours(image_only) == ["red"] * 5
  # Red circle image + "blue" (text weight 2, the paper's ratio): blue
  # circles rank first, above every red circle.
  results = search_lib.search(index, embedder, image=str(red_circle),
                              text="blue", top_k=15)
  assert [r[0].rsplit(" ", 1)[0] for r in results[:5]] == ["blue circle"] * 5
  ranks = {item_id: rank for rank, (item_id, _) in enumerate(results)}
  red_circle_ranks = [r for i, r in ranks.items()
                      if i.startswith("red circle")]
  assert min(red_circle_ranks) > 4
  # Scores are cosines with the re-normalised query.
  query = queries.combine_queries(
      embedder.embed_image_bytes([b"red circle 0"])[0],
      embedder.embed_texts(["blue"])[0], 1.0, 2.0)
  top = index.embeddings[index.ids.index(results[0][0])]
  assert results[0][1] == pytest.approx(float(top @ query), abs=1e-5)


def test_negative_weight_subtracts(world, tmp_path):
  embedder, index = world
  red_square = tmp_path / "query.png"
  red_square.write_bytes(b"red square 1")
  # Image of a red square minus "red": squares of other colours first.
  minus_red = search_lib.search(index, embedder, image=str(red_square),
                                text="red", text_weight=-1.0, top_k=5)
  assert "red" not in _colours(minus_red[:3])
  assert all(i.split()[1] == "square" for i, _ in minus_red)
  image_only = search_lib.search(index, embedder, image=str(red_square),
                                 top_k=5)
  assert _colours(image_only) == ["red"] * 5


def test_text_only_query_ignores_image_weight(world):
  embedder, index = world
  results = search_lib.search(index, embedder, text="yellow", top_k=15,
                              image_weight=-3.0)
  assert _colours(results) == ["yellow"] * 15
