"""exact_top_k: the true top k in any block size, ties ordered by row."""
import numpy as np
import pytest

from official.align.search import exact_search
import synthetic_vectors


@pytest.fixture(scope="module")
def data():
  embeddings = synthetic_vectors.clustered(3000, 32, 30, seed=0)
  queries = synthetic_vectors.clustered(40, 32, 30, seed=1)
  return embeddings, queries


def test_exact_top_k_matches_sorting_in_any_block_size(data):
  embeddings, queries = data
  expected = synthetic_vectors.naive_top_k(embeddings, queries, 10)
  for block_rows in (7, 1000, 65_536):
    indices, scores = exact_search.exact_top_k(embeddings, queries, 10,
                                               block_rows=block_rows)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(
        scores, np.take_along_axis(queries @ embeddings.T, indices, axis=1),
        rtol=1e-5)


def test_exact_top_k_orders_ties_by_row():
  embeddings = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32)
  indices, _ = exact_search.exact_top_k(embeddings, np.array([[1, 0]],
                                                             np.float32), 3,
                                        block_rows=2)
  np.testing.assert_array_equal(indices, [[0, 2, 3]])
