# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Image↔text retrieval on Flickr30K / MS-COCO (Karpathy splits).

  python -m official.align.evaluation.retrieval_eval \
      --hub_dir=runs/demo/export | --model_dir=runs/demo/model \
      --karpathy_json=dataset_flickr30k.json --image_dir=flickr30k-images \
      --split=test [--captions_per_image=5] [--output_json=results.json]

Embeds every image and caption in batches (progress bar), computes the
similarity in tiles (`retrieval.retrieval_ranks`), and prints R@1/5/10 for
image→text and text→image and their sum (R-sum).
"""
import json
import sys
from typing import Dict, Optional

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from official.align.inference import embedder as embedder_lib
from official.align.inference import model_flags
from official.align.evaluation import karpathy
from official.align.evaluation import retrieval


def evaluate(embedder: embedder_lib.Embedder,
             dataset: karpathy.RetrievalSet,
             batch_size: Optional[int] = None,
             block_size: Optional[int] = retrieval.DEFAULT_BLOCK_SIZE,
             progress: bool = False) -> Dict:
  """R@K of `embedder` on a retrieval set.

  Args:
    embedder: the encoders.
    dataset: images, captions and caption → image indices.
    batch_size: items per encoder call (default: the embedder's).
    block_size: tile side of the similarity matrix.
    progress: progress bars while embedding.

  Returns:
    dict: `metrics` (`retrieval.recall_at_k`, plus `num_images`,
    `num_texts`), `image_embeddings` float32 [num_images, dim],
    `text_embeddings` float32 [num_texts, dim].
  """
  image_embeddings = embedder.embed_image_files(
      dataset.image_paths, batch_size=batch_size, progress=progress)
  text_embeddings = embedder.embed_texts(
      dataset.captions, batch_size=batch_size, progress=progress)
  metrics = retrieval.recall_at_k(image_embeddings, text_embeddings,
                                  dataset.text_to_image,
                                  block_size=block_size)
  metrics.update(num_images=len(dataset.image_paths),
                 num_texts=len(dataset.captions))
  return dict(metrics=metrics, image_embeddings=image_embeddings,
              text_embeddings=text_embeddings)


def format_metrics(metrics: Dict) -> str:
  """A two-row table of R@K (%) and the R-sum."""
  ks = sorted(int(k.split("@")[1]) for k in metrics
              if k.startswith("image_to_text_R@"))
  header = "direction      " + "".join(f"  R@{k:<4d}" for k in ks)
  rows = [header]
  for name, key in (("image→text", "image_to_text"),
                    ("text→image", "text_to_image")):
    rows.append(f"{name:15s}" + "".join(
        f"  {100 * metrics[f'{key}_R@{k}']:6.2f}" for k in ks))
  rows.append(f"R-sum {metrics['rsum']:.2f} over {metrics['num_images']} "
              f"images, {metrics['num_texts']} captions")
  return "\n".join(rows)


def _define_flags():
  model_flags.define_model_flags()
  flags.adopt_module_key_flags(model_flags)
  flags.DEFINE_string("karpathy_json", None, "dataset_flickr30k.json or "
                      "dataset_coco.json.")
  flags.DEFINE_string("image_dir", None, "Directory of the images (COCO: "
                      "holding train2014/ and val2014/, or flat).")
  flags.DEFINE_list("split", ["test"], "Karpathy split(s), e.g. test or "
                    "train,restval.")
  flags.DEFINE_integer("captions_per_image", 5, "First N captions per image "
                       "(0: all).")
  flags.DEFINE_integer("max_images", None, "Only the first N images.")
  flags.DEFINE_integer("block_size", retrieval.DEFAULT_BLOCK_SIZE,
                       "Tile side of the similarity matrix.")
  flags.DEFINE_string("output_json", None, "Write the metrics here.")
  flags.DEFINE_bool("progress", True, "Show progress bars.")


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    # The JSON is validated before the model loads (fails in seconds).
    dataset = karpathy.load_karpathy(
        f.karpathy_json, f.image_dir, splits=f.split,
        captions_per_image=f.captions_per_image or None,
        max_images=f.max_images)
    embedder = model_flags.from_flags()
    result = evaluate(embedder, dataset, block_size=f.block_size,
                      progress=f.progress)
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"retrieval_eval: error: {e}")
  metrics = result["metrics"]
  print(format_metrics(metrics))
  if f.output_json:
    with tf.io.gfile.GFile(f.output_json, "w") as out:
      json.dump(dict(metrics, split=f.split, encoders=embedder.source,
                     embed_dim=int(np.shape(result["text_embeddings"])[1])),
                out, indent=1)


if __name__ == "__main__":
  _define_flags()
  flags.mark_flags_as_required(["karpathy_json", "image_dir"])
  app.run(main)
