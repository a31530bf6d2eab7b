"""The replica step: XLA readiness, skipping non-finite steps, tower levers."""
import os

import gin
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.align import optimization
from official.align.modeling import towers
from official.align.runtime import steps
from official.align.tasks import align_task
from official.align.dataloaders import input_reader
from official.align.modeling import align_model
from official.vision.modeling.layers import nn_blocks

import tiny_models

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _batch(batch_size, image_size, seq_length, vocab_size, seed=0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, seq_length + 1, size=batch_size)
  mask = (np.arange(seq_length)[None] < lengths[:, None]).astype(np.int32)
  return {
      "image": tf.constant(rng.uniform(
          size=(batch_size, image_size, image_size, 3)), tf.float32),
      "input_word_ids": tf.constant(rng.integers(
          5, vocab_size, size=(batch_size, seq_length)) * mask, tf.int32),
      "input_mask": tf.constant(mask),
      "input_type_ids": tf.zeros((batch_size, seq_length), tf.int32),
  }


def _tiny_config_model(seed, optimizer=None):
  tf_keras.utils.set_random_seed(seed)
  model = align_model.build_align_model()
  model.compile(optimizer=optimizer or
                optimization.build_optimizer(learning_rate=1e-3))
  return model


def _step_with_gradients(model):
  """`make_step_fn(model, "stop")`, also returning the applied gradients."""

  def step(batch):
    gradients, output, norm = model.compute_gradients(batch)
    align_model.apply_aggregated_gradients(
        model.optimizer, zip(gradients, model.trainable_variables))
    return gradients, model.step_logs(output, gradient_norm=norm)
  return step


@pytest.mark.parametrize("loss_config", [None, "sigmoid_loss.gin"])
def test_tiny_config_step_compiles_with_xla_and_matches(loss_config):
  gin.clear_config()
  gin.parse_config_file(os.path.join(REPO, "configs", "tiny.gin"))
  if loss_config:
    gin.parse_config_file(os.path.join(REPO, "configs", loss_config))
  # SGD: the weight step is linear in the gradient, so the gradients'
  # tolerance carries over to it. (LAMB divides by sqrt(v) ~ |g|, so a
  # gradient within float noise of zero moves a weight by up to ~lr either
  # way: no tolerance on its step follows from the gradients'.)
  learning_rate = 0.1
  try:
    xla_model = _tiny_config_model(
        0, tf_keras.optimizers.SGD(learning_rate=learning_rate))
    ref_model = _tiny_config_model(
        0, tf_keras.optimizers.SGD(learning_rate=learning_rate))
  finally:
    gin.clear_config()
  ref_model.set_weights(xla_model.get_weights())
  batch = _batch(8, 32, 16, 1000)
  xla_step = tf.function(_step_with_gradients(xla_model), jit_compile=True)
  ref_step = tf.function(_step_with_gradients(ref_model))
  graph = xla_step.get_concrete_function(batch).graph
  for op in graph.get_operations():
    for t in list(op.inputs) + list(op.outputs):
      assert t.dtype != tf.string, op.name
  for t in graph.inputs:
    assert t.shape.is_fully_defined(), t
  before = [v.numpy() for v in ref_model.trainable_variables]
  xla_grads, xla_logs = xla_step(batch)
  ref_grads, ref_logs = ref_step(batch)
  for k in ref_logs:
    np.testing.assert_allclose(xla_logs[k], ref_logs[k], rtol=1e-4,
                               atol=1e-6, err_msg=k)
  # Relative to the largest gradient entry: some entries (e.g. BatchNorm
  # betas feeding another BatchNorm) are float noise around zero.
  ref_grads = [tf.convert_to_tensor(g).numpy() for g in ref_grads]
  scale = max(float(np.max(np.abs(g))) for g in ref_grads)
  for a, b, v in zip(xla_grads, ref_grads, ref_model.trainable_variables):
    np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b,
                               rtol=1e-4, atol=1e-4 * scale, err_msg=v.name)
  # Weight steps: learning_rate x the gradients' tolerance, plus float32
  # rounding of w - lr * g (a few ulps of |w|).
  eps = np.finfo(np.float32).eps
  for a, b, w in zip(xla_model.trainable_variables,
                     ref_model.trainable_variables, before):
    np.testing.assert_allclose(
        a.numpy() - w, b.numpy() - w, rtol=1e-4,
        atol=learning_rate * 1e-4 * scale + 4 * eps * np.max(np.abs(w)),
        err_msg=a.name)


def _per_replica_dataset(per_replica_batch, num_replicas, nan_at_step):
  """3 steps of per-replica batches; step `nan_at_step` (0-based) has NaN
  images on the last replica only. `skipped_records` counts steps."""
  elements = []
  for step in range(3):
    for replica in range(num_replicas):
      b = tiny_models.random_batch(per_replica_batch,
                                   seed=step * num_replicas + replica)
      if step == nan_at_step and replica == num_replicas - 1:
        b["image"] = b["image"] * float("nan")
      b["skipped_records"] = tf.constant(
          [0, 0, step] + [0] * (len(input_reader.SKIP_REASONS) - 3), tf.int64)
      elements.append(b)
  return tf.data.Dataset.from_tensor_slices(
      {k: tf.stack([e[k] for e in elements]) for k in elements[0]})


def test_skip_policy_leaves_weights_untouched_under_mirrored():
  strategy = tiny_models.mirrored_strategy(2)
  with strategy.scope():
    model = tiny_models.tiny_align_model(
        image_tower=tiny_models.conv_image_encoder())
    model.compile(optimizer=optimization.build_optimizer(learning_rate=1e-2))
  iterator = iter(strategy.distribute_datasets_from_function(
      lambda ctx: _per_replica_dataset(4, 2, nan_at_step=1)))
  loop = steps.make_train_loop(
      strategy, model,
      steps.make_step_fn(model, "skip", align_task.MEAN_LOG_KEYS), False,
      input_keys=align_task.MODEL_KEYS, log_keys=align_task.MEAN_LOG_KEYS)
  out = loop(iterator, tf.constant(1))
  assert int(out["first_nonfinite_step"]) == -1
  before = [v.numpy() for v in model.trainable_variables]
  out = loop(iterator, tf.constant(1))
  assert int(out["first_nonfinite_step"]) == 2
  assert int(model.optimizer.iterations.numpy()) == 2
  for v, b in zip(model.trainable_variables, before):
    np.testing.assert_array_equal(v.numpy(), b, err_msg=v.name)
  out = loop(iterator, tf.constant(1))
  assert int(out["first_nonfinite_step"]) == -1
  np.testing.assert_array_equal(out["skipped_records"], [0, 0, 2] + [0] * (len(input_reader.SKIP_REASONS) - 3))
  assert any(np.any(v.numpy() != b)
             for v, b in zip(model.trainable_variables, before))
  assert all(np.all(np.isfinite(v.numpy())) for v in model.variables)


def _gradients(model, batch):

  @tf.function
  def grads():
    with tf.GradientTape() as tape:
      loss = model.compute_contrastive_loss(batch, training=True).loss
    return tape.gradient(loss, model.trainable_variables)
  return [tf.convert_to_tensor(g).numpy() for g in grads()]


def test_recompute_grad_text_tower_gives_the_same_gradients():
  plain = tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder())
  recomputed = tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder())
  recomputed.set_weights(plain.get_weights())
  towers.configure_towers(recomputed, recompute_text_tower=True)
  batch = tiny_models.random_batch(4)
  for a, b in zip(_gradients(plain, batch), _gradients(recomputed, batch)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _loss_gradients_and_stats(tower, images, weights, step_fn):
  """Loss, gradients and BatchNorm statistics after one forward/backward."""

  def run():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tower(images, training=True) * weights)
    return loss, tape.gradient(loss, tower.trainable_variables)
  loss, grads = step_fn(run)()
  return (float(loss), [tf.convert_to_tensor(g).numpy() for g in grads],
          [v.numpy() for v in tower.non_trainable_variables])


def _assert_recomputation_is_exact(make_tower, step_fn):
  tf_keras.utils.set_random_seed(0)
  plain, recomputed = make_tower(), make_tower()
  images = tiny_models.random_batch(4)["image"]
  plain(images[:1])
  recomputed(images[:1])
  recomputed.set_weights(plain.get_weights())
  towers.recompute_tower(recomputed)
  weights = tf.random.normal([4, tiny_models.EMBED_DIM], seed=1)
  initial_stats = [v.numpy() for v in plain.non_trainable_variables]
  loss, grads, stats = _loss_gradients_and_stats(plain, images, weights,
                                                 step_fn)
  r_loss, r_grads, r_stats = _loss_gradients_and_stats(
      recomputed, images, weights, step_fn)
  assert r_loss == pytest.approx(loss, rel=1e-6)
  for a, b, v in zip(grads, r_grads, plain.trainable_variables):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7, err_msg=v.name)
  # Moving statistics moved once: exactly as far as the plain tower's (a
  # second update by the recomputation would move them further).
  assert any(np.any(s != i) for s, i in zip(stats, initial_stats))
  for a, b, v in zip(stats, r_stats, plain.non_trainable_variables):
    np.testing.assert_array_equal(b, a, err_msg=v.name)


def test_recompute_efficientnet_per_block_is_exact_eagerly():
  """Tiny EfficientNet (7 MBConv blocks, each a recompute checkpoint)."""
  _assert_recomputation_is_exact(tiny_models.tiny_image_encoder,
                                 step_fn=lambda f: f)


def _one_block_tower(stochastic_depth_drop_rate=0.0):
  """Stem conv + BN + one MBConv block (with squeeze-excitation) + pool.

  Small enough to trace in seconds: covers `tf.function` (graph-mode
  custom gradients), where the full tiny EfficientNet takes a minute.
  """
  inputs = tf_keras.Input([tiny_models.IMAGE_SIZE, tiny_models.IMAGE_SIZE, 3])
  x = tf_keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
  x = tf_keras.layers.BatchNormalization()(x)
  x = nn_blocks.InvertedBottleneckBlock(
      in_filters=8, out_filters=8, expand_ratio=6, strides=1, kernel_size=3,
      se_ratio=0.25, activation="swish",
      stochastic_depth_drop_rate=stochastic_depth_drop_rate)(x)
  x = tf_keras.layers.GlobalAveragePooling2D()(x)
  return tf_keras.Model(inputs, tf_keras.layers.Dense(
      tiny_models.EMBED_DIM)(x), name="image_encoder")


def test_recompute_mbconv_block_is_exact_in_tf_function():
  _assert_recomputation_is_exact(_one_block_tower, step_fn=tf.function)


def test_recompute_refuses_stochastic_depth():
  with pytest.raises(ValueError, match="stochastic depth"):
    towers.recompute_tower(_one_block_tower(stochastic_depth_drop_rate=0.2))


def test_locked_image_tower_is_frozen_and_in_inference_mode():
  model = tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder())
  num_text = len(model.text_encoder.trainable_variables)
  towers.configure_towers(model, lock_image_tower=True)
  assert not model.image_encoder.trainable_variables
  assert len(model.trainable_variables) == num_text + 1  # + temperature
  moving = [v.numpy() for v in model.image_encoder.non_trainable_variables]
  batch = tiny_models.random_batch(4)
  train_out = model(batch, training=True)["image_embeddings"]
  infer_out = model(batch, training=False)["image_embeddings"]
  np.testing.assert_allclose(train_out, infer_out, rtol=1e-6)
  for v, m in zip(model.image_encoder.non_trainable_variables, moving):
    np.testing.assert_array_equal(v.numpy(), m)
