"""SkipMonitor warns once on a high skip fraction of the first records."""
from absl.testing import absltest

from official.align.dataloaders import skip_counts

N = len(skip_counts.SKIP_REASONS)


def _counts(**per_reason):
  return [per_reason.get(r, 0) for r in skip_counts.SKIP_REASONS]


class SkipMonitorTest(absltest.TestCase):

  def test_warns_once_past_the_threshold_with_the_counts(self):
    monitor = skip_counts.SkipMonitor(threshold=0.5, window=100)
    with self.assertLogs(level="WARNING") as logs:
      monitor.update(_counts(decode_error=40), 30)  # 70 seen: not yet.
      self.assertFalse(monitor.checked)
      monitor.update(_counts(decode_error=60, empty_caption=1), 40)
      monitor.update(_counts(decode_error=600), 40)  # Checked already.
    self.assertTrue(monitor.warned)
    self.assertLen(logs.output, 1)
    self.assertIn("61 of the first 101 records (60.4%)", logs.output[0])
    self.assertIn("empty_caption 1, decode_error 60", logs.output[0])

  def test_quiet_below_the_threshold_and_checks_short_runs_at_finish(self):
    monitor = skip_counts.SkipMonitor(threshold=0.5, window=100)
    monitor.update(_counts(malformed_record=10), 95)
    self.assertTrue(monitor.checked)
    self.assertFalse(monitor.warned)
    short = skip_counts.SkipMonitor(threshold=0.5, window=10_000)
    short.update(_counts(missing_feature=30), 10)
    self.assertFalse(short.checked)
    with self.assertLogs(level="WARNING"):
      short.finish()
    self.assertTrue(short.warned)
    with self.assertRaisesRegex(ValueError, "threshold"):
      skip_counts.SkipMonitor(threshold=1.5)

  def test_format_counts(self):
    self.assertEqual(skip_counts.format_counts([0] * N), "none")
    self.assertEqual(skip_counts.format_counts(_counts(malformed_record=2)),
                     "malformed_record 2")

  def test_reason_index(self):
    self.assertEqual(
        skip_counts.SKIP_REASONS[skip_counts.reason_index("image_too_large")],
        "image_too_large")
    with self.assertRaisesRegex(ValueError, "Unknown skip reason 'nope'"):
      skip_counts.reason_index("nope")


if __name__ == "__main__":
  absltest.main()
