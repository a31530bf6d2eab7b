"""AlignModel: replica-count invariance of loss, gradients and updates."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.align import losses
from official.align import optimization
import tiny_models

GLOBAL_BATCH = 8
# AlignModel arguments of each loss; the sigmoid loss at an init where its
# logits (cos * 10 - 10) and gradients are far from saturated and from zero.
LOSS_KWARGS = {
    "softmax": {},
    "sigmoid": dict(loss_fn=losses.sigmoid_loss, temperature_init=0.1,
                    logit_bias_init=-10.0),
}


def _strategy(num_replicas):
  if num_replicas == 1:
    return tf.distribute.OneDeviceStrategy("/cpu:0")
  return tiny_models.mirrored_strategy(num_replicas)


def _distribute(strategy, batch):
  """Replica r gets rows [r*b, (r+1)*b) of the global batch."""
  n = strategy.num_replicas_in_sync
  local = GLOBAL_BATCH // n

  def rows(ctx):
    start = ctx.replica_id_in_sync_group * local
    return {k: v[start:start + local] for k, v in batch.items()}

  return strategy.experimental_distribute_values_from_function(rows)


def _model_under(strategy, weights=None, optimizer_fn=None, loss="softmax"):
  """A tiny model with synchronised BatchNorm (LAMB unless `optimizer_fn`).

  Synchronised BN makes per-replica batch statistics equal the global
  batch's; with per-replica BN (the paper's setting) the forward pass itself
  depends on the split. The image tower is `conv_image_encoder`: tracing the
  EfficientNet trunk once per replica takes minutes on 2 cores, and what is
  under test here is `AlignModel`'s loss and gradient aggregation.
  """
  with strategy.scope():
    model = tiny_models.tiny_align_model(
        image_tower=tiny_models.conv_image_encoder(use_sync_bn=True),
        **LOSS_KWARGS[loss])
    model.compile(optimizer=optimizer_fn() if optimizer_fn else
                  optimization.build_optimizer(learning_rate=1e-3,
                                               weight_decay_rate=1e-5))
  if weights is not None:
    for variable, value in zip(_model_variables(model), weights):
      variable.assign(value)
  return model


def _loss_and_gradients(strategy, model, batch):
  @tf.function
  def step(data):
    def replica_fn(d):
      grads, output, _ = model.compute_gradients(d)
      ctx = tf.distribute.get_replica_context()
      return (ctx.all_reduce(tf.distribute.ReduceOp.MEAN, output.loss),
              [tf.convert_to_tensor(g) for g in grads])
    return strategy.run(replica_fn, args=(data,))

  loss, grads = step(_distribute(strategy, batch))
  first = lambda v: strategy.experimental_local_results(v)[0].numpy()
  return first(loss), [first(g) for g in grads]


@pytest.fixture(scope="module", params=sorted(LOSS_KWARGS))
def reference(request):
  """One device at the global batch: weights, loss and gradients."""
  strategy = _strategy(1)
  model = _model_under(strategy, loss=request.param)
  batch = tiny_models.random_batch(GLOBAL_BATCH, seed=3)
  loss, grads = _loss_and_gradients(strategy, model, batch)
  return dict(weights=_model_weights(model), batch=batch, loss=loss,
              grads=grads, names=[v.name for v in model.trainable_variables],
              loss_name=request.param)


def _model_variables(model):
  """Towers' variables (BatchNorm statistics included) and the logit
  parameters (temperature; or log_logit_scale and logit_bias); not the
  metric accumulators."""
  return (model.image_encoder.variables + model.text_encoder.variables
          + list(model.logit_parameters.values()))


def _model_weights(model):
  return [v.numpy() for v in _model_variables(model)]


def _assert_close_per_variable(got, want, names, rtol):
  for g, w, name in zip(got, want, names):
    # Entries near zero are compared against the variable's own scale, and
    # against float32 noise (~1e-7) for gradients that are zero in exact
    # arithmetic (e.g. a BatchNorm beta followed by another normalisation).
    atol = max(rtol * np.abs(w).max(), 1e-6)
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("num_replicas", [2, 4])
def test_loss_and_gradients_do_not_depend_on_replica_count(
    reference, num_replicas):
  strategy = _strategy(num_replicas)
  model = _model_under(strategy, reference["weights"],
                       loss=reference["loss_name"])
  loss, grads = _loss_and_gradients(strategy, model, reference["batch"])
  np.testing.assert_allclose(loss, reference["loss"], rtol=1e-5)
  assert len(grads) == len(reference["grads"])
  logit_names = {"softmax": ["temperature:0"],
                 "sigmoid": ["log_logit_scale:0", "logit_bias:0"]}[
                     reference["loss_name"]]
  for name in logit_names:  # Compared below, and far from zero.
    assert abs(reference["grads"][reference["names"].index(name)]) > 1e-3
  _assert_close_per_variable(grads, reference["grads"], reference["names"],
                             rtol=1e-4)
  # The comparison is not vacuous: most gradients are far from zero (a few
  # are zero in exact arithmetic: attention key biases, dead ReLUs).
  live = [np.abs(g).max() > 1e-4 for g in reference["grads"]]
  assert sum(live) > 0.8 * len(live)


SGD_LEARNING_RATE = 1e-2


def _weights_after_one_step(strategy, weights, batch, loss):
  model = _model_under(
      strategy, weights,
      lambda: tf_keras.optimizers.SGD(learning_rate=SGD_LEARNING_RATE), loss)
  dataset = tf.data.Dataset.from_tensors(batch)
  model.fit(dataset, epochs=1, verbose=0)
  return model


def test_one_optimizer_step_moves_weights_as_on_one_device(reference):
  # SGD: the step is linear in the gradient, so the gradients' tolerance
  # above carries over to it. (LAMB's first step divides each gradient entry
  # by its own magnitude + 1e-6: entries that are float noise around zero
  # move by amounts no tolerance on the gradients bounds.)
  single = _weights_after_one_step(_strategy(1), reference["weights"],
                                   reference["batch"], reference["loss_name"])
  mirrored = _weights_after_one_step(_strategy(4), reference["weights"],
                                     reference["batch"], reference["loss_name"])
  variables = _model_variables(single)
  # The same model built again lists its trainable variables in one order.
  gradients = {v.ref(): g for v, g in zip(single.trainable_variables,
                                          reference["grads"])}
  assert all(tuple(v.shape) == g.shape for v, g in
             zip(single.trainable_variables, reference["grads"]))
  eps = np.finfo(np.float32).eps
  moved = 0
  for before, s, m, variable in zip(reference["weights"],
                                    _model_weights(single),
                                    _model_weights(mirrored), variables):
    name = variable.name
    delta_single, delta_mirrored = s - before, m - before
    moved += int(np.abs(delta_single).max() > 0)
    if variable.ref() in gradients:  # Trainable: lr x the gradients' atol.
      atol = SGD_LEARNING_RATE * max(
          1e-4 * np.abs(gradients[variable.ref()]).max(), 1e-6)
    else:  # BatchNorm statistics: float32 reassociation of the batch moments.
      atol = 1e-4 * np.abs(delta_single).max()
    # Plus the rounding of w + delta (a few ulps of |w|).
    atol += 4 * eps * np.abs(before).max()
    np.testing.assert_allclose(delta_mirrored, delta_single, rtol=1e-4,
                               atol=atol, err_msg=name)
  assert len(gradients) == len(reference["grads"])
  assert moved > len(variables) // 2
  assert single.optimizer.iterations.numpy() == 1
  assert mirrored.optimizer.iterations.numpy() == 1


def test_temperature_is_trainable_starts_at_one_and_is_not_decayed():
  model = tiny_models.tiny_align_model()
  assert float(model.temperature) == 1.0
  assert any(v is model.temperature for v in model.trainable_variables)
  assert model.temperature.dtype == tf.float32

  optimizer = optimization.build_optimizer(learning_rate=0.0,
                                           weight_decay_rate=0.5)
  name = optimizer._get_variable_name(model.temperature.name)  # pylint: disable=protected-access
  assert not optimizer._do_use_weight_decay(name)  # pylint: disable=protected-access
  assert not optimizer._do_layer_adaptation(name)  # pylint: disable=protected-access
  kernel = model.text_encoder.projection.kernel
  kernel_name = optimizer._get_variable_name(kernel.name)  # pylint: disable=protected-access
  assert optimizer._do_use_weight_decay(kernel_name)  # pylint: disable=protected-access

  # Behaviourally: with a zero gradient and lr 0 nothing moves; with a large
  # decay and lr > 0, a zero gradient still shrinks the kernel but not the
  # temperature.
  optimizer = optimization.build_optimizer(learning_rate=0.1,
                                           weight_decay_rate=0.5)
  temperature_before = float(model.temperature)
  kernel_before = kernel.numpy().copy()
  optimizer.apply_gradients([(tf.zeros_like(model.temperature),
                              model.temperature),
                             (tf.zeros_like(kernel), kernel)])
  assert float(model.temperature) == temperature_before
  assert np.linalg.norm(kernel.numpy()) < np.linalg.norm(kernel_before)


def test_temperature_learns_under_training():
  model = tiny_models.tiny_align_model()
  model.compile(optimizer=optimization.build_optimizer(learning_rate=1e-2))
  model.fit(tf.data.Dataset.from_tensors(tiny_models.random_batch(8)).repeat(3),
            verbose=0)
  assert float(model.temperature) != 1.0


def test_embeddings_are_unit_norm_float32_under_mixed_precision():
  tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    model = tiny_models.tiny_align_model()
    # Training mode: an untrained trunk's BatchNorm moving statistics shrink
    # activations towards zero in inference mode.
    out = model(tiny_models.random_batch(3), training=True)
    logs = model.test_step(tiny_models.random_batch(3))
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  assert model.image_encoder.projection.compute_dtype == "bfloat16"
  for key in ("image_embeddings", "text_embeddings"):
    assert out[key].dtype == tf.float32
    np.testing.assert_allclose(np.linalg.norm(out[key], axis=1), 1.0,
                               rtol=1e-5)
  assert model.temperature.dtype == tf.float32
  assert logs["step_loss"].dtype == tf.float32
  assert np.isfinite(logs["step_loss"].numpy())


def test_sigmoid_logit_parameters_are_float32_and_not_decayed():
  tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    model = tiny_models.tiny_align_model(**LOSS_KWARGS["sigmoid"])
    logs = model.test_step(tiny_models.random_batch(3))
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  scale, bias = model.log_logit_scale, model.logit_bias
  np.testing.assert_allclose(scale.numpy(), np.log(10.0), rtol=1e-6)
  np.testing.assert_allclose(float(model.temperature), 0.1, rtol=1e-6)
  assert bias.numpy() == -10.0
  assert logs["step_loss"].dtype == tf.float32
  assert float(logs["logit_bias"]) == -10.0
  for variable in (scale, bias):
    assert variable.dtype == tf.float32
    assert any(v is variable for v in model.trainable_variables)

  optimizer = optimization.build_optimizer(learning_rate=0.1,
                                           weight_decay_rate=0.5)
  for variable in (scale, bias):
    name = optimizer._get_variable_name(variable.name)  # pylint: disable=protected-access
    assert not optimizer._do_use_weight_decay(name), name  # pylint: disable=protected-access
    assert not optimizer._do_layer_adaptation(name), name  # pylint: disable=protected-access
  optimizer.apply_gradients([(tf.zeros_like(scale), scale),
                             (tf.zeros_like(bias), bias)])
  np.testing.assert_allclose(scale.numpy(), np.log(10.0), rtol=1e-6)
  assert bias.numpy() == -10.0


def test_sigmoid_loss_needs_a_bias_init():
  with pytest.raises(ValueError, match="logit_bias_init"):
    tiny_models.tiny_align_model(loss_fn=losses.sigmoid_loss)


def test_softmax_checkpoint_keeps_its_temperature_key(tmp_path):
  model = tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder())
  model.temperature.assign(0.25)
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  keys = [k for k, _ in tf.train.list_variables(path)]
  assert "model/temperature/.ATTRIBUTES/VARIABLE_VALUE" in keys
  assert not any("logit" in k for k in keys)
  # Restored by the old attribute path.
  restored = tf.Variable(0.0)
  tf.train.Checkpoint(model=tf.train.Checkpoint(
      temperature=restored)).read(path).expect_partial()
  assert float(restored) == 0.25


def test_sigmoid_scale_and_bias_come_from_init_checkpoint(tmp_path):
  """`AlignTask.init_checkpoint` (fine-tuning) restores them too."""
  from official.align.tasks import align_task  # pylint: disable=g-import-not-at-top
  make = lambda preprocessing=None: tiny_models.tiny_align_model(
      image_tower=tiny_models.conv_image_encoder(), **LOSS_KWARGS["sigmoid"])
  trained = make()
  trained.log_logit_scale.assign(3.0)
  trained.logit_bias.assign(-7.5)
  tf.train.Checkpoint(model=trained).save(str(tmp_path / "ckpt"))
  model = align_task.AlignTask(model_fn=make,
                               init_checkpoint=str(tmp_path)).build_model()
  assert model.log_logit_scale.numpy() == 3.0
  assert model.logit_bias.numpy() == -7.5
  np.testing.assert_allclose(
      align_task.AlignTask().summary_scalars(model)["logit_bias"], -7.5)
