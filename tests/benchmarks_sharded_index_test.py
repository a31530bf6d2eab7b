"""benchmarks/sharded_index.py on a tiny collection (figures never asserted).

What is asserted follows from the construction: the noise gives copies the
chosen cosine to their source, exact shards merge to exact search (recall
1), and the saved bytes per vector are the storage's row size.
"""
import os
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

from benchmarks import sharded_index as bench  # pylint: disable=g-import-not-at-top


def test_noisy_copies_have_the_fitted_cosine_to_their_source():
  rng = np.random.default_rng(0)
  images = rng.standard_normal((50, 32)).astype(np.float32)
  images /= np.linalg.norm(images, axis=1, keepdims=True)
  scale, target = 0.5, 1 / np.sqrt(1.25)
  copies = bench.noisy_copies(images, 20_000, scale, chunk=3_000)
  np.testing.assert_allclose(np.linalg.norm(copies, axis=1), 1, atol=1e-5)
  cosines = np.sum(copies * images[np.arange(20_000) % 50], axis=1)
  # Median of 20k cosines: sampling spread ~ 0.1 / sqrt(20k) ~ 1e-3; the
  # cosine's curvature in the noise moves it by O(scale^2 / dim) ~ 0.01.
  assert abs(np.median(cosines) - target) < 0.02
  # noise_scale inverts that: cosine c -> scale sqrt(1 / c^2 - 1).
  twins = np.concatenate([images, images * 0.8 + 0.2 * images[::-1]])
  twins /= np.linalg.norm(twins, axis=1, keepdims=True)
  scale, nearest = bench.noise_scale(twins)
  assert 1 / np.sqrt(1 + scale**2) == pytest.approx(nearest, rel=1e-6)


def test_tiny_run_reports_every_option(trained_demo_export):
  m = bench.measure(3_000, trained_demo_export.export_dir,
                    trained_demo_export.world_dir)
  rows = {(r["kind"], r["storage"], r["shards"]): r for r in m["rows"]}
  assert set(rows) == (
      {("brute_force", "float32", n) for n in bench.EXACT_SHARD_COUNTS}
      | {("scann", "float32", n) for n in bench.SCANN_SHARD_COUNTS}
      | {("brute_force", "int8", 1), ("scann", "int8", 1)})
  dim = m["dim"]
  for n in bench.EXACT_SHARD_COUNTS:  # The exact merge is exact search.
    assert rows[("brute_force", "float32", n)]["recall"] == 1.0
  # Rows plus manifests (a few hundred bytes per shard over 3k vectors).
  assert 4 * dim <= rows[("brute_force", "float32", 1)][
      "bytes_per_vector"] < 4 * dim + 1
  assert dim + 4 <= rows[("brute_force", "int8", 1)][
      "bytes_per_vector"] < dim + 5
  results = bench.to_results(m)
  names = [r["name"] for r in results]
  assert len(names) == len(set(names))
  assert all(r["baseline_value"] > 0 for r in results)
