# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The benchmark reference model, ours and transformers', plus shared bits.

`configs/bench_reference.gin` is the single source of the architecture:
`build_ours` builds our `AlignModel` and LAMB from it through
`trainer.build_model_and_optimizer`, and `build_transformers` builds
transformers' `AlignModel` (PyTorch) with the same shapes read back from
gin (EfficientNet width/depth 1.0 = B0, BERT layers/hidden/heads/
intermediate/vocabulary, projection = text embedding size).
"""
import os
import time
from typing import Callable, Dict, List, Sequence

import gin
import numpy as np
import tensorflow as tf

from official.align.runtime import trainer
from official.align.tasks import align_task
from official.align.modeling import align_model

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_GIN = os.path.join(REPO_ROOT, "configs", "bench_reference.gin")
# B0's width/depth multipliers in EfficientNet's (and transformers') table.
EFFICIENTNET_SCALING = {"b0": (1.0, 1.0)}


def num_cores() -> int:
  """CPU cores this process may run on."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


# Extra gin bindings (newline-separated) for every benchmark process, e.g.
# a tiny model to check the scripts quickly (`run_all.py --gin_bindings`).
BINDINGS_ENV = "ALIGN_BENCH_GIN_BINDINGS"


def extra_bindings() -> List[str]:
  """The bindings given through `BINDINGS_ENV`."""
  return [b for b in os.environ.get(BINDINGS_ENV, "").split("\n") if b]


def parse_reference_config(bindings: Sequence[str] = ()):
  """Replaces the global gin config by the reference config (+ bindings)."""
  extra = extra_bindings()
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config_files_and_bindings([REFERENCE_GIN],
                                        extra + list(bindings))


def _query(name: str, default=None):
  try:
    return gin.query_parameter(name)
  except ValueError:
    if default is None:
      raise
    return default


def reference_shapes() -> Dict[str, int]:
  """Image size, tokens, batch and tower shapes of the parsed config."""
  return dict(
      image_size=_query("Preprocessing.image_size"),
      seq_length=_query("Preprocessing.seq_length"),
      global_batch_size=_query("TrainConfig.global_batch_size"),
      vocab_size=_query("TextEncoder.vocab_size"),
      hidden_size=_query("TextEncoder.hidden_size"),
      num_layers=_query("TextEncoder.num_layers"),
      num_attention_heads=_query("TextEncoder.num_attention_heads"),
      inner_dim=_query("TextEncoder.inner_dim"),
      max_sequence_length=_query("TextEncoder.max_sequence_length"),
      embed_dim=_query("TextEncoder.embed_dim"),
      dropout_rate=_query("TextEncoder.dropout_rate"),
      attention_dropout_rate=_query("TextEncoder.attention_dropout_rate"),
      model_id=_query("ImageEncoder.model_id"),
      stochastic_depth_drop_rate=_query(
          "ImageEncoder.stochastic_depth_drop_rate"),
      width_scale=_query("ImageEncoder.width_scale", ()),
      depth_scale=_query("ImageEncoder.depth_scale", ()))


def train_config(**overrides) -> trainer.TrainConfig:
  """The gin `TrainConfig` of the ALIGN task (data in memory)."""
  overrides.setdefault("task", align_task.AlignTask())
  return trainer.TrainConfig(**overrides)


def build_ours(strategy=None):
  """(model, optimizer) exactly as `trainer.train` builds them."""
  strategy = strategy or tf.distribute.get_strategy()
  return trainer.build_model_and_optimizer(strategy, train_config())


def synthetic_batch(batch_size: int, image_size: int, seq_length: int,
                    vocab_size: int, seed: int = 0) -> Dict[str, np.ndarray]:
  """Random images in [0, 1] and token ids with caption-like lengths.

  Returns:
    numpy dict: `image` float32 [batch, image_size, image_size, 3],
    int32 [batch, seq_length] `input_word_ids`, `input_mask`,
    `input_type_ids`.
  """
  rng = np.random.default_rng(seed)
  lengths = rng.integers(8, seq_length + 1, size=batch_size)
  mask = (np.arange(seq_length)[None, :] < lengths[:, None]).astype(np.int32)
  ids = rng.integers(1000, vocab_size, size=(batch_size, seq_length))
  ids[:, 0] = 101  # [CLS]
  return {
      align_model.IMAGE_KEY: rng.uniform(
          size=(batch_size, image_size, image_size, 3)).astype(np.float32),
      "input_word_ids": (ids * mask).astype(np.int32),
      "input_mask": mask,
      "input_type_ids": np.zeros_like(mask),
  }


def build_transformers(image_size: int):
  """transformers' `AlignModel` (PyTorch) with the reference shapes.

  Returns:
    A `transformers.AlignModel` in training mode.
  """
  import transformers  # pylint: disable=g-import-not-at-top
  shapes = reference_shapes()
  width, depth = shapes["width_scale"], shapes["depth_scale"]
  if width == ():  # Not bound: the named variant's scales.
    width, depth = EFFICIENTNET_SCALING[shapes["model_id"]]
  vision = transformers.AlignVisionConfig(
      image_size=image_size, width_coefficient=width, depth_coefficient=depth,
      drop_connect_rate=shapes["stochastic_depth_drop_rate"])
  text = transformers.AlignTextConfig(
      vocab_size=shapes["vocab_size"], hidden_size=shapes["hidden_size"],
      num_hidden_layers=shapes["num_layers"],
      num_attention_heads=shapes["num_attention_heads"],
      intermediate_size=shapes["inner_dim"],
      max_position_embeddings=shapes["max_sequence_length"],
      hidden_dropout_prob=shapes["dropout_rate"],
      attention_probs_dropout_prob=shapes["attention_dropout_rate"])
  config = transformers.AlignConfig(
      text_config=text.to_dict(), vision_config=vision.to_dict(),
      projection_dim=shapes["embed_dim"], temperature_init_value=1.0)
  model = transformers.AlignModel(config)
  model.train()
  return model


def torch_batch(batch: Dict[str, np.ndarray]):
  """The numpy batch as transformers' inputs (NCHW pixels, int64 ids)."""
  import torch  # pylint: disable=g-import-not-at-top
  return dict(
      pixel_values=torch.from_numpy(
          np.ascontiguousarray(batch["image"].transpose(0, 3, 1, 2))),
      input_ids=torch.from_numpy(batch["input_word_ids"].astype(np.int64)),
      attention_mask=torch.from_numpy(batch["input_mask"].astype(np.int64)),
      token_type_ids=torch.from_numpy(
          batch["input_type_ids"].astype(np.int64)))


def set_torch_threads(threads: int) -> int:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  return torch.get_num_threads()


def tf_threads() -> int:
  """Intra-op threads TensorFlow uses (0 in the config means all cores)."""
  return tf.config.threading.get_intra_op_parallelism_threads() or num_cores()


def interleaved_windows(cases: Dict[str, Callable[[], None]],
                        windows: int) -> Dict[str, List[float]]:
  """Times each case once per window, cases alternating within a window.

  Alternating the cases window by window exposes them to the same load of a
  shared machine, so their ratio is fair even when absolute speed drifts.

  Args:
    cases: name -> fn() running one timed unit of work (already warmed up);
      fn must return only once the work is done (results on the host).
    windows: number of windows.

  Returns:
    name -> list of `windows` wall-clock durations in seconds.
  """
  times = {name: [] for name in cases}
  for _ in range(windows):
    for name, fn in cases.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return times


def median(values: Sequence[float]) -> float:
  return float(np.median(np.asarray(values)))
