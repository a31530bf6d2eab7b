"""Stored rows: unit rows, int8 codes and scales, and row views."""
import numpy as np
import pytest

from official.align.search import vectors
import synthetic_vectors


def test_l2_normalize_makes_unit_rows_and_names_a_bad_row():
  x = np.array([[3, 4], [0, 2]], np.float32)
  np.testing.assert_allclose(vectors.l2_normalize(x), [[0.6, 0.8], [0, 1]],
                             rtol=1e-6)
  unit = np.eye(3, dtype=np.float32)
  assert vectors.l2_normalize(unit) is unit  # Unit already: no copy.
  with pytest.raises(ValueError, match=r"queries: 1 row\(s\).*row 1"):
    vectors.l2_normalize(np.array([[1, 0], [np.inf, 0]]), "queries")


def test_int8_codes_and_scales():
  unit = synthetic_vectors.clustered(50, 16, 4, seed=0)
  codes, scales = vectors.quantize_int8(unit)
  assert codes.dtype == np.int8 and scales.dtype == np.float32
  # Each row's largest component becomes +-127.
  np.testing.assert_array_equal(np.abs(codes.astype(np.int32)).max(axis=1),
                                127)
  # Codes times scales are unit rows (float32 rounding only).
  rows = vectors.dequantize(codes, scales)
  np.testing.assert_allclose(np.linalg.norm(rows.astype(np.float64), axis=1),
                             1, atol=1e-6)
  # A code is off by at most half a step (the row's peak / 254), plus a few
  # float32 roundings of the peak.
  peak = np.abs(unit).max(axis=1, keepdims=True)
  step = peak / 127
  assert np.all(np.abs(codes * step - unit) <= step / 2 + 5 * 2.0**-24 * peak)
  # Blocks change nothing.
  for a, b in zip((codes, scales), vectors.quantize_int8(unit, block_rows=7)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(vectors.dequantize(unit, None), unit)


def test_row_view_reads_rows_on_access():
  stored = np.arange(12, dtype=np.float32).reshape(4, 3)
  reads = []

  def row_fn(rows):
    reads.append(list(rows))
    return stored[rows] * 2

  view = vectors.RowView(row_fn, 4, 3)
  assert (len(view), view.shape, reads) == (4, (4, 3), [])
  np.testing.assert_array_equal(view[1], stored[1] * 2)
  np.testing.assert_array_equal(view[-1], stored[3] * 2)
  np.testing.assert_array_equal(view[[0, 2]], stored[[0, 2]] * 2)
  np.testing.assert_array_equal(view[1:3], stored[1:3] * 2)
  np.testing.assert_array_equal(np.asarray(view), stored * 2)
  assert np.asarray(view, np.float64).dtype == np.float64
  assert reads == [[1], [3], [0, 2], [1, 2], [0, 1, 2, 3], [0, 1, 2, 3]]
  with pytest.raises(IndexError, match="row 4 of 4"):
    view[4]  # pylint: disable=pointless-statement
