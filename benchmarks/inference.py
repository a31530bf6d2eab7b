# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Inference throughput of the exported TF-Hub modules vs transformers.

The reference model (`configs/bench_reference.gin`, random weights) is
checkpointed into a temporary model_dir and exported with
`export_lib.export` (what `export/export_tfhub.py` runs). Then, at batch 64:

  images/s:  `image_encoder`'s `serving_default` (float32 128x128 images in
             [0, 1]; the module's own evaluation resize + central crop run
             inside) vs transformers' `get_image_features` on the same
             pixels.
  texts/s:   `text_encoder`'s `token_ids` signature vs `get_text_features`
             on the same token ids (both start from ids: transformers'
             tokenizer runs outside its model). One more row times our
             string signature (WordPiece inside the graph) against the same
             transformers figure.

transformers runs under `torch.inference_mode()` in eval mode with as many
threads as TensorFlow. Cases alternate window by window; figures are medians.

  python -m benchmarks.inference [--windows=5 --batches=1]
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import sys
import tempfile
import time
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf

from benchmarks import reference
from benchmarks import results as results_lib
from official.align import run_dir
from official.align.modeling import align_model
from official.align.serving import export_lib

CASES = ("ours_images", "transformers_images", "ours_token_ids",
         "ours_token_ids_xla", "ours_strings", "transformers_texts")
# The export with `build_text_module.jit_compile = True` (XLA signatures),
# next to the default export.
XLA_EXPORT = "export_xla"
XLA_BINDINGS = ("build_text_module.jit_compile = True",)
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def write_vocab(path: str, vocab_size: int):
  """A WordPiece vocab of `vocab_size` entries: specials, words, pieces."""
  words = [f"w{i}" for i in range((vocab_size - len(_SPECIAL_TOKENS)) // 2)]
  pieces = [f"##p{i}" for i in range(
      vocab_size - len(_SPECIAL_TOKENS) - len(words))]
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(_SPECIAL_TOKENS + tuple(words) + tuple(pieces)) + "\n")


def export_reference(work_dir: str, xla_too: bool = False) -> str:
  """Checkpoints the (untrained) reference model and exports it.

  The global gin config must be the reference config. Returns the export
  directory (`work_dir/export`); with `xla_too` also exports
  `work_dir/export_xla` with `XLA_BINDINGS`.
  """
  shapes = reference.reference_shapes()
  vocab_file = os.path.join(work_dir, "vocab.txt")
  write_vocab(vocab_file, shapes["vocab_size"])
  model_dir = os.path.join(work_dir, "model")
  model, _ = reference.build_ours()
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model),
      os.path.join(model_dir, run_dir.CHECKPOINT_SUBDIR),
      max_to_keep=1).save(checkpoint_number=0)
  with open(reference.REFERENCE_GIN, encoding="utf-8") as f:
    config = f.read()
  with open(os.path.join(model_dir, export_lib.OPERATIVE_CONFIG), "w",
            encoding="utf-8") as f:
    f.write("\n".join([config] + reference.extra_bindings() + [
        f"Preprocessing.vocab_file = '{vocab_file}'",
        "AlignTask.train_file_pattern = 'unused'", ""]))
  export_dir = os.path.join(work_dir, "export")
  export_lib.export(model_dir, export_dir)
  if xla_too:
    export_lib.export(model_dir, os.path.join(work_dir, XLA_EXPORT),
                      gin_bindings=XLA_BINDINGS)
  return export_dir


def _texts(batch: Dict[str, np.ndarray]) -> List[str]:
  """Captions of about the batch's lengths from the synthetic vocab."""
  rng = np.random.default_rng(1)
  lengths = batch["input_mask"].sum(axis=1) - 2
  return [" ".join(f"w{int(i)}" for i in rng.integers(0, 10000, size=n))
          for n in lengths]


def make_case(case: str, export_dir: str, batch_size: int
              ) -> Callable[[], None]:
  """fn() encoding one batch of `batch_size` with the case's model."""
  shapes = reference.reference_shapes()
  batch = reference.synthetic_batch(batch_size, shapes["image_size"],
                                    shapes["seq_length"], shapes["vocab_size"])
  if case.startswith("transformers"):
    import torch  # pylint: disable=g-import-not-at-top
    model = reference.build_transformers(shapes["image_size"])
    model.eval()
    inputs = reference.torch_batch(batch)
    if case == "transformers_images":
      def run():
        with torch.inference_mode():
          out = model.get_image_features(pixel_values=inputs["pixel_values"])
          getattr(out, "pooler_output", out).sum().item()
    else:
      text_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask",
                                            "token_type_ids")}
      def run():
        with torch.inference_mode():
          out = model.get_text_features(**text_inputs)
          getattr(out, "pooler_output", out).sum().item()
    return run
  if case == "ours_images":
    serve = tf.saved_model.load(
        os.path.join(export_dir, "image_encoder")).signatures[
            "serving_default"]
    images = tf.constant(batch[align_model.IMAGE_KEY])
    return lambda: serve(images=images)["embeddings"].numpy()
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  if case == "ours_token_ids_xla":
    export_dir = os.path.join(os.path.dirname(export_dir), XLA_EXPORT)
  loaded = tf.saved_model.load(os.path.join(export_dir, "text_encoder"))
  if case in ("ours_token_ids", "ours_token_ids_xla"):
    serve = loaded.signatures["token_ids"]
    ids = {k: tf.constant(batch[k]) for k in align_model.TEXT_KEYS}
    return lambda: serve(**ids)["embeddings"].numpy()
  if case == "ours_strings":
    serve = loaded.signatures["serving_default"]
    texts = tf.constant(_texts(batch))
    return lambda: serve(text=texts)["embeddings"].numpy()
  raise ValueError(f"Unknown case {case!r}; expected one of {CASES}")


def measure(export_dir: str, windows: int = 5, batches: int = 2,
            warmup: int = 2, cases=CASES) -> Dict[str, float]:
  """Median examples/s per case over interleaved windows."""
  reference.set_torch_threads(reference.tf_threads())
  batch_size = reference.reference_shapes()["global_batch_size"]
  runners, first_call_s = {}, {}
  for case in cases:
    fn = make_case(case, export_dir, batch_size)
    start = time.perf_counter()
    fn()  # Includes XLA's compilation for the XLA export.
    first_call_s[case] = time.perf_counter() - start
    for _ in range(warmup - 1):
      fn()

    def repeated(fn=fn):
      for _ in range(batches):
        fn()
    runners[case] = repeated
  times = reference.interleaved_windows(runners, windows)
  rates = {case: reference.median(
      [batches * batch_size / t for t in times[case]]) for case in cases}
  return rates, first_call_s


def run(windows: int = 5, batches: int = 1) -> List:
  """The inference comparisons in the common result format."""
  reference.parse_reference_config()
  with tempfile.TemporaryDirectory() as work_dir:
    export_dir = export_reference(work_dir, xla_too=True)
    rates, first_call_s = measure(export_dir, windows, batches)
  extra = dict(batch_size=reference.reference_shapes()["global_batch_size"],
               tf_intra_op_threads=reference.tf_threads(),
               torch_threads=reference.set_torch_threads(
                   reference.tf_threads()),
               onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
               load_average=round(os.getloadavg()[0], 2))
  return [
      results_lib.result(
          "inference: exported image_encoder (TF-Hub SavedModel)", "images/s",
          rates["ours_images"],
          "transformers get_image_features (inference_mode)",
          rates["transformers_images"], goal=">= 2x", goal_ratio=2.0,
          **extra),
      results_lib.result(
          "inference: exported text_encoder, token_ids signature", "texts/s",
          rates["ours_token_ids"],
          "transformers get_text_features (inference_mode)",
          rates["transformers_texts"], goal=">= 2x", goal_ratio=2.0, **extra),
      results_lib.result(
          "inference: exported text_encoder, token_ids, XLA export option",
          "texts/s", rates["ours_token_ids_xla"],
          "transformers get_text_features (inference_mode)",
          rates["transformers_texts"], goal=">= 2x", goal_ratio=2.0,
          first_call_seconds=round(first_call_s["ours_token_ids_xla"], 2),
          **extra),
      results_lib.result(
          "inference: exported text_encoder from strings (WordPiece inside)",
          "texts/s", rates["ours_strings"],
          "transformers get_text_features from token ids",
          rates["transformers_texts"], goal=None, **extra),
  ]


def main():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--batches", type=int, default=1)
  args = parser.parse_args()
  for r in run(args.windows, args.batches):
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
