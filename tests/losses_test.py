"""The contrastive loss against a NumPy reference written out by hand."""
import numpy as np
import pytest
import tensorflow as tf

from official.align import losses
import tiny_models


def _unit_rows(rng, n, d):
  x = rng.normal(size=(n, d))
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference_loss(images, texts, temperature, smoothing, reduction):
  """Cross-entropy of both directions, written element by element."""
  n = images.shape[0]

  def direction(queries, keys):
    total = 0.0
    for i in range(n):
      logits = np.array([queries[i] @ keys[j] for j in range(n)]) / temperature
      log_probs = logits - np.log(np.sum(np.exp(logits - logits.max()))) \
          - logits.max()
      target = np.full(n, smoothing / n)
      target[i] += 1.0 - smoothing
      total += -np.sum(target * log_probs)
    return total / n

  i2t = direction(images, texts)
  t2i = direction(texts, images)
  loss = i2t + t2i if reduction == "sum" else (i2t + t2i) / 2
  return loss, i2t, t2i


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_matches_numpy_reference(reduction, smoothing):
  rng = np.random.default_rng(0)
  images, texts = _unit_rows(rng, 6, 5), _unit_rows(rng, 6, 5)
  temperature = 0.3
  out = losses.contrastive_loss(
      tf.constant(images, tf.float32), tf.constant(texts, tf.float32),
      tf.constant(temperature), label_smoothing=smoothing,
      direction_reduction=reduction)
  want, want_i2t, want_t2i = _reference_loss(images, texts, temperature,
                                             smoothing, reduction)
  np.testing.assert_allclose(out.loss.numpy(), want, rtol=1e-5)
  np.testing.assert_allclose(out.image_to_text_loss.numpy(), want_i2t,
                             rtol=1e-5)
  np.testing.assert_allclose(out.text_to_image_loss.numpy(), want_t2i,
                             rtol=1e-5)
  assert want_i2t != pytest.approx(want_t2i)  # the directions differ


def test_accuracy_counts_best_matching_columns():
  # Images 0 and 1 find their own captions; image 2's best text is text 0.
  images = tf.constant([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
  texts = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  out = losses.contrastive_loss(images, texts, tf.constant(1.0))
  np.testing.assert_allclose(out.image_to_text_accuracy.numpy(), 2 / 3)
  # Text 2 is closest to image 1 (cosine 0 beats -1).
  np.testing.assert_allclose(out.text_to_image_accuracy.numpy(), 2 / 3)


def test_unknown_direction_reduction_is_rejected():
  x = tf.eye(2)
  with pytest.raises(ValueError, match="direction_reduction"):
    losses.contrastive_loss(x, x, tf.constant(1.0), direction_reduction="max")


def _replica_rows(strategy, array):
  """Per-replica float32 values: replica r gets rows [2r, 2r + 2)."""
  return strategy.experimental_distribute_values_from_function(
      lambda ctx: tf.constant(
          array[2 * ctx.replica_id_in_sync_group:
                2 * ctx.replica_id_in_sync_group + 2], tf.float32))


def test_replicas_see_global_negatives_with_offset_labels():
  """4 replicas x 2 rows: the mean of replica losses is the 8-row loss."""
  rng = np.random.default_rng(1)
  images, texts = _unit_rows(rng, 8, 4), _unit_rows(rng, 8, 4)
  strategy = tiny_models.mirrored_strategy(4)

  per_replica = strategy.run(
      lambda i, t: losses.contrastive_loss(i, t, tf.constant(0.5)).loss,
      args=(_replica_rows(strategy, images), _replica_rows(strategy, texts)))
  got = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
  want, _, _ = _reference_loss(images, texts, 0.5, 0.1, "sum")
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def _reference_sigmoid_loss(images, texts, temperature, bias):
  """SigLIP's loss written pair by pair: -sum log sigmoid(z * logit) / n."""
  n = images.shape[0]
  total = 0.0
  for i in range(n):
    for j in range(n):
      logit = images[i] @ texts[j] / temperature + bias
      label = 1.0 if i == j else -1.0
      total += np.log1p(np.exp(-label * logit))
  return total / n


@pytest.mark.parametrize("temperature,bias", [(0.1, -10.0), (0.5, 1.5)])
def test_sigmoid_loss_matches_numpy_reference(temperature, bias):
  rng = np.random.default_rng(2)
  images, texts = _unit_rows(rng, 6, 5), _unit_rows(rng, 6, 5)
  out = losses.sigmoid_loss(
      tf.constant(images, tf.float32), tf.constant(texts, tf.float32),
      tf.constant(temperature), tf.constant(bias))
  want = _reference_sigmoid_loss(images, texts, temperature, bias)
  np.testing.assert_allclose(out.loss.numpy(), want, rtol=1e-5)
  assert out.loss.dtype == tf.float32


def test_sigmoid_loss_is_lowest_for_matching_pairs():
  # Identical rows score cosine 1 on the diagonal and 0 elsewhere.
  eye = tf.eye(4)
  aligned = losses.sigmoid_loss(eye, eye, tf.constant(0.1), tf.constant(-5.0))
  shuffled = losses.sigmoid_loss(eye, tf.roll(eye, 1, axis=0),
                                 tf.constant(0.1), tf.constant(-5.0))
  # Per row: log(1 + e^-5) + 3 log(1 + e^-5) aligned, vs. a positive at
  # logit -5 and one negative at +5 shuffled.
  np.testing.assert_allclose(aligned.loss.numpy(), 4 * np.log1p(np.exp(-5)),
                             rtol=1e-5)
  assert shuffled.loss.numpy() > 9.0
  np.testing.assert_allclose(aligned.image_to_text_accuracy.numpy(), 1.0)
  np.testing.assert_allclose(shuffled.text_to_image_accuracy.numpy(), 0.0)


def test_sigmoid_replicas_score_every_pair_once():
  """4 replicas x 2 rows: the mean of replica losses is the 8-row loss."""
  rng = np.random.default_rng(3)
  images, texts = _unit_rows(rng, 8, 4), _unit_rows(rng, 8, 4)
  strategy = tiny_models.mirrored_strategy(4)

  per_replica = strategy.run(
      lambda i, t: losses.sigmoid_loss(i, t, tf.constant(0.2),
                                       tf.constant(-2.0)).loss,
      args=(_replica_rows(strategy, images), _replica_rows(strategy, texts)))
  got = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
  np.testing.assert_allclose(
      got.numpy(), _reference_sigmoid_loss(images, texts, 0.2, -2.0),
      rtol=1e-5)
