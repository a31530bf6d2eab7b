# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Zero-shot image classification of a labelled image set.

  python -m official.align.evaluation.zero_shot_eval \
      --hub_dir=runs/demo/export | --model_dir=runs/demo/model \
      --dataset=folder:/data/imagenet/val | tfds:imagenet2012 \
          | tfrecord:'/data/val-*' | demo_world:runs/demo/world \
      [--tfds_data_dir=~/tensorflow_datasets] [--split=validation] \
      [--class_names=imagenet|demo_world|FILE] \
      [--templates=imagenet|demo_world|FILE] [--prompt_mode=ensemble|single] \
      [--output_json=results.json] [--per_class_tsv=per_class.tsv]

Class embeddings are the prompt ensemble of `zero_shot.text_classifier`
(all templates) or one template (`--prompt_mode=single`,
`--single_template`). Prints top-1/top-5 and a per-class table; images
that cannot be decoded are skipped and counted.
"""
import json
import sys
from typing import Dict, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from official.align.evaluation import classification_data
from official.align.inference import embedder as embedder_lib
from official.align.inference import model_flags
from official.align.evaluation import prompts
from official.align.evaluation import zero_shot

PROMPT_MODES = ("ensemble", "single", "compare")


def evaluate(embedder: embedder_lib.Embedder, source,
             templates: Sequence[str],
             class_names: Optional[Sequence[str]] = None,
             ks: Sequence[int] = (1, 5),
             batch_size: int = 64,
             max_examples: Optional[int] = None,
             progress: bool = False,
             compare_single_templates: bool = False) -> Dict:
  """Zero-shot accuracy of `embedder` on a `classification_data` source.

  Args:
    embedder: the encoders.
    source: a `classification_data` source (`batches`, `class_names`).
    templates: prompt templates; one template = single-prompt.
    class_names: overrides `source.class_names` (same order).
    ks: top-k accuracies to report (k <= number of classes).
    batch_size: images per encoder call.
    max_examples: stop after this many images (None: all).
    progress: log progress every few batches.
    compare_single_templates: also score every template on its own, in the
      same pass (the ablation of prompt ensembling).

  Returns:
    dict: `metrics` {"top{k}": float in [0, 1], "num_examples",
    "num_skipped"}, `per_class` (`zero_shot.per_class_accuracy`),
    `class_names`, `predictions` int [n, max(ks)], `labels` int [n],
    `names` [n] (image names/keys), `classifier` float32 [classes, dim];
    with `compare_single_templates`, `single_templates`: [{"template",
    "top{k}"...}] in template order.
  """
  class_names = list(class_names or source.class_names)
  prompts.check_templates(templates)
  ks = tuple(k for k in ks if k <= len(class_names))
  prompt_embeddings = zero_shot.embed_prompts(
      lambda t: embedder.embed_texts(t, batch_size=batch_size), class_names,
      templates)
  classifier = zero_shot.class_embeddings(prompt_embeddings).astype(
      np.float32)
  singles = ([zero_shot.l2_normalize(prompt_embeddings[:, j]).astype(
      np.float32) for j in range(len(templates))]
             if compare_single_templates else [])
  single_predictions = [[] for _ in singles]
  top = max(ks)
  predictions, labels, names = [], [], []
  num_seen = num_skipped = 0
  for encoded, batch_labels, batch_names in source.batches(batch_size):
    if max_examples is not None:
      room = max_examples - num_seen
      if room <= 0:
        break
      encoded, batch_labels = encoded[:room], batch_labels[:room]
      batch_names = batch_names[:room]
    num_seen += len(encoded)
    bad = (batch_labels < 0) | (batch_labels >= len(class_names))
    if np.any(bad):
      raise ValueError(
          f"Label {int(batch_labels[bad][0])} of {batch_names[np.argmax(bad)]}"
          f" is outside [0, {len(class_names)}) (check --label_offset and "
          "--class_names).")
    image_embeddings, kept = embedder.embed_decodable_image_bytes(
        encoded, batch_size=batch_size, progress=False)
    num_skipped += int(np.sum(~kept))
    for i in np.flatnonzero(~kept):
      logging.warning("Skipped undecodable image %s", batch_names[i])
    scores = image_embeddings @ classifier.T
    predictions.append(zero_shot.top_k_predictions(scores, top))
    for single, out in zip(singles, single_predictions):
      out.append(zero_shot.top_k_predictions(image_embeddings @ single.T,
                                             top))
    labels.append(batch_labels[kept])
    names.extend(n for n, k in zip(batch_names, kept) if k)
    if progress:
      logging.info("zero-shot: %d images", num_seen)
  predictions = (np.concatenate(predictions) if predictions else
                 np.zeros([0, top], np.int64))
  labels = np.concatenate(labels) if labels else np.zeros([0], np.int64)
  def accuracies(preds):
    return {f"top{k}": (float(np.mean(zero_shot.top_k_hits(preds, labels, k)))
                        if len(labels) else float("nan")) for k in ks}

  metrics = accuracies(predictions)
  metrics.update(num_examples=int(len(labels)), num_skipped=num_skipped)
  result = dict(metrics=metrics, class_names=class_names,
                per_class=zero_shot.per_class_accuracy(
                    predictions, labels, len(class_names), ks),
                predictions=predictions, labels=labels, names=names,
                classifier=classifier)
  if compare_single_templates:
    result["single_templates"] = [
        dict(accuracies(np.concatenate(p) if p else predictions[:0]),
             template=t) for t, p in zip(templates, single_predictions)]
  return result


def per_class_table(result: Dict) -> str:
  """TSV: class, count, top-k accuracies (%), one row per class."""
  per_class = result["per_class"]
  ks = [key for key in per_class if key != "count"]
  lines = ["\t".join(["class", "count"] + ks)]
  for i, name in enumerate(result["class_names"]):
    values = [f"{100 * per_class[k][i]:.1f}" for k in ks]
    lines.append("\t".join([name, str(per_class["count"][i])] + values))
  return "\n".join(lines)


def _define_flags():
  model_flags.define_model_flags()
  flags.adopt_module_key_flags(model_flags)
  flags.DEFINE_string("dataset", None, "folder:DIR, tfds:NAME, "
                      "tfrecord:GLOB or demo_world:WORLD_DIR.")
  flags.DEFINE_string("tfds_data_dir", None, "Where the TFDS dataset is "
                      "prepared (tfds: only; nothing is downloaded).")
  flags.DEFINE_string("split", None, "TFDS split (default validation, else "
                      "test).")
  flags.DEFINE_string("image_key", None, "Image feature (default: tfds "
                      "'image', tfrecord 'image/encoded').")
  flags.DEFINE_string("label_key", None, "Label feature (default: tfds "
                      "'label', tfrecord 'image/class/label').")
  flags.DEFINE_integer("label_offset", 0, "Added to TFRecord labels (-1 for "
                       "1-based labels).")
  flags.DEFINE_string("class_names", None, "imagenet, demo_world or a file "
                      "with one name per line (default: the dataset's own; "
                      "required for tfrecord:).")
  flags.DEFINE_string("templates", "imagenet", "imagenet (CLIP's 80), "
                      "demo_world, or a file with one template per line.")
  flags.DEFINE_enum("prompt_mode", "ensemble", PROMPT_MODES, "ensemble: "
                    "average all templates; single: --single_template; "
                    "compare: the ensemble and every template alone.")
  flags.DEFINE_string("single_template", prompts.SINGLE_TEMPLATE,
                      "Template of --prompt_mode=single.")
  flags.DEFINE_integer("max_examples", None, "Evaluate at most this many.")
  flags.DEFINE_string("output_json", None, "Write the metrics here.")
  flags.DEFINE_string("per_class_tsv", None, "Write the per-class table.")
  flags.DEFINE_bool("progress", True, "Log progress.")


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    embedder = model_flags.from_flags()
    class_names = prompts.class_names(f.class_names) if f.class_names else None
    source = classification_data.parse_dataset(
        f.dataset, class_names=class_names, split=f.split,
        tfds_data_dir=f.tfds_data_dir, image_key=f.image_key,
        label_key=f.label_key, label_offset=f.label_offset)
    templates = (prompts.templates(f.templates) if f.prompt_mode != "single"
                 else [f.single_template])
    result = evaluate(embedder, source, templates, batch_size=f.batch_size,
                      max_examples=f.max_examples, progress=f.progress,
                      compare_single_templates=f.prompt_mode == "compare")
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"zero_shot_eval: error: {e}")
  table = per_class_table(result)
  if len(result["class_names"]) <= 60:
    print(table)
  if f.per_class_tsv:
    with tf.io.gfile.GFile(f.per_class_tsv, "w") as out:
      out.write(table + "\n")
  metrics = result["metrics"]
  summary = dict(metrics, dataset=f.dataset, prompt_mode=f.prompt_mode,
                 num_templates=len(templates),
                 num_classes=len(result["class_names"]),
                 encoders=embedder.source)
  print(" ".join(f"{k}={100 * v:.2f}%" for k, v in metrics.items()
                 if k.startswith("top")) +
        f" on {metrics['num_examples']} images ({metrics['num_skipped']} "
        f"skipped), {len(result['class_names'])} classes, "
        f"{f.prompt_mode} of {len(templates)} template(s)")
  if "single_templates" in result:
    singles = result["single_templates"]
    for row in singles:
      print(" ".join(f"{k}={100 * v:.2f}%" for k, v in row.items()
                     if k.startswith("top")) + f"  {row['template']!r}")
    mean = {k: float(np.mean([r[k] for r in singles]))
            for k in singles[0] if k.startswith("top")}
    print("single templates, mean: " + " ".join(
        f"{k}={100 * v:.2f}%" for k, v in mean.items()))
    summary.update(single_templates=singles, single_template_mean=mean)
  if f.output_json:
    with tf.io.gfile.GFile(f.output_json, "w") as out:
      json.dump(summary, out, indent=1)


if __name__ == "__main__":
  _define_flags()
  flags.mark_flag_as_required("dataset")
  app.run(main)
