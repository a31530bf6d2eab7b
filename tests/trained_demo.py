"""Shared fixture: a short-trained demo-world model and its TF-Hub export.

`trained_demo_export` (session scope) generates a small demo world, trains
the tiny ALIGN config on it for a few hundred steps (configs/demo.gin +
configs/tiny.gin at 32 px, Adam) and exports the TF-Hub modules, once per
test session. The model learns colours well (zero-shot colour accuracy far
above chance); shapes much less. Registered in tests/conftest.py through
`pytest_plugins`, so any test can request it.

    def test_something(trained_demo_export):
      embedder = loaders.from_hub_dir(trained_demo_export.export_dir)

Attributes of the returned `TrainedDemo`: `root`, `world_dir` (demo world:
train/eval TFRecords, eval_labels.json, metadata.json, vocab.txt),
`model_dir` (operative_config.gin, checkpoints/), `export_dir`
(image_encoder/, text_encoder/, text_preprocessor/), `steps`, `seconds`
(wall time of world + training + export).

Run this file to time the fixture and print zero-shot colour accuracy:
    python tests/trained_demo.py /tmp/trained_demo
"""
import dataclasses
import json
import os
import sys
import time

import filelock
import gin
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_FILES = [os.path.join(REPO, "configs", "demo.gin"),
             os.path.join(REPO, "configs", "tiny.gin")]
NUM_TRAIN = 2000
NUM_EVAL = 480
IMAGE_SIZE = 32
STEPS = 600
NOISE_FRACTION = 0.05
TWO_OBJECT_FRACTION = 0.1
BINDINGS = [
    "TrainConfig.deterministic = True",
    f"TrainConfig.train_steps = {STEPS}",
    "TrainConfig.global_batch_size = 32",
    "TrainConfig.steps_per_execution = 20",
    "TrainConfig.log_interval = 100",
    f"TrainConfig.checkpoint_interval = {STEPS}",
    "TrainConfig.max_checkpoints_to_keep = 1",
    "TrainConfig.eval_interval = 0",
    "TrainConfig.num_summary_images = 0",
    "build_model_and_optimizer.optimizer_fn = @build_adam",
    "build_learning_rate.peak_learning_rate = 3e-3",
    "build_learning_rate.warmup_steps = 20",
    f"build_learning_rate.total_steps = {STEPS}",
    "AlignModel.temperature_init = 0.05",
    "AlignModel.learn_temperature = False",
    # The fixture's recipe predates demo.gin's 0.1; its tests' thresholds
    # were measured with BERT's default.
    "TextEncoder.initializer_range = 0.02",
    "ImageEncoder.norm_momentum = 0.9",
    "contrastive_loss.label_smoothing = 0.0",
]


@dataclasses.dataclass(frozen=True)
class TrainedDemo:
  root: str
  world_dir: str
  model_dir: str
  export_dir: str
  steps: int
  seconds: float
  world_seconds: float
  train_seconds: float
  cpu_seconds: tuple  # (world, training, export) process CPU seconds.


def build_trained_demo(root: str) -> TrainedDemo:
  """Generates the world, trains, exports (all under `root`)."""
  # Imported here so that collecting tests stays cheap.
  from official.align import gin_utils  # pylint: disable=g-import-not-at-top
  from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
  from official.align.runtime import trainer  # pylint: disable=g-import-not-at-top
  from official.align.serving import export_lib  # pylint: disable=g-import-not-at-top

  start = time.time()
  cpu = [time.process_time()]
  world_dir = os.path.join(root, "world")
  model_dir = os.path.join(root, "model")
  export_dir = os.path.join(root, "export")
  demo_world.generate(world_dir, num_train=NUM_TRAIN, num_eval=NUM_EVAL,
                      image_size=IMAGE_SIZE, seed=0, num_workers=1,
                      vocab_size=300, noise_fraction=NOISE_FRACTION,
                      two_object_fraction=TWO_OBJECT_FRACTION)
  files = [
      f"AlignTask.train_file_pattern = '{world_dir}/train-*.tfrecord'",
      f"Preprocessing.vocab_file = '{world_dir}/vocab.txt'",
  ]
  world_seconds = time.time() - start
  cpu.append(time.process_time())
  try:
    with gin.unlock_config():
      gin.clear_config()
      gin_utils.parse_gin(GIN_FILES, BINDINGS + files)
    trainer.train(model_dir)
    train_seconds = time.time() - start - world_seconds
    cpu.append(time.process_time())
    export_lib.export(model_dir, export_dir)
    cpu.append(time.process_time())
  finally:
    with gin.unlock_config():
      gin.clear_config()
  return TrainedDemo(root=root, world_dir=world_dir, model_dir=model_dir,
                     export_dir=export_dir, steps=STEPS,
                     seconds=time.time() - start,
                     world_seconds=world_seconds,
                     train_seconds=train_seconds,
                     cpu_seconds=tuple(round(b - a, 1)
                                       for a, b in zip(cpu, cpu[1:])))


def build_once(tmp_path_factory, worker_id: str, name: str, build):
  """`build(root)`'s JSON-able result, built once per test session.

  Under pytest-xdist the first worker to ask builds it in the session's
  common temp dir (`root`, named `name`) while the others wait on a file
  lock, then read the result it recorded (the xdist docs' pattern).
  """
  if worker_id == "master":  # Not under xdist.
    return build(tmp_path_factory.mktemp(name))
  root = tmp_path_factory.getbasetemp().parent / name
  recorded = root.parent / f"{name}.json"
  with filelock.FileLock(f"{root}.lock"):
    if recorded.is_file():
      return json.loads(recorded.read_text())
    root.mkdir(exist_ok=True)
    result = build(root)
    recorded.write_text(json.dumps(result))
    return result


@pytest.fixture(scope="session")
def trained_demo_export(tmp_path_factory, worker_id) -> TrainedDemo:
  """A short-trained demo-world model, exported (see the module docstring),
  shared by the test workers (`build_once`)."""
  fields = build_once(
      tmp_path_factory, worker_id, "trained_demo",
      lambda root: dataclasses.asdict(build_trained_demo(str(root))))
  return TrainedDemo(**dict(fields,
                            cpu_seconds=tuple(fields["cpu_seconds"])))


def _report(demo: TrainedDemo):
  """Prints zero-shot colour and colour-shape accuracy of the export."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.align.demo import world as demo_world  # pylint: disable=g-import-not-at-top
  from official.align.evaluation import zero_shot  # pylint: disable=g-import-not-at-top
  from official.align.inference import loaders  # pylint: disable=g-import-not-at-top
  embedder = loaders.from_hub_dir(demo.export_dir)
  with open(os.path.join(demo.world_dir, "eval_labels.json")) as f:
    labels = {r["key"]: r for r in json.load(f)}
  keys, encoded = [], []
  for record in tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(demo.world_dir, "eval-*.tfrecord"))):
    example = tf.train.Example.FromString(record.numpy())
    keys.append(example.features.feature["key"].bytes_list.value[0].decode())
    encoded.append(example.features.feature["jpg"].bytes_list.value[0])
  images = embedder.embed_image_bytes(encoded)
  rows = [labels[k] for k in keys]
  for name, classes, label_of in (
      ("colour", list(demo_world.COLOURS), lambda r: r["colour"]),
      ("pair", demo_world.class_names(), lambda r: r["pair"])):
    prompts = zero_shot.build_prompts(classes, ("a {}", "a photo of a {}"))
    class_embeds = zero_shot.class_embeddings(
        embedder.embed_texts(prompts).reshape(len(classes), 2, -1))
    scores = zero_shot.similarity(images, class_embeds)
    y = [classes.index(label_of(r)) for r in rows]
    print(f"zero-shot top-1 by {name}: "
          f"{zero_shot.top_k_accuracy(scores, y, 1):.3f}")


if __name__ == "__main__":
  sys.path.insert(0, REPO)
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.INFO)
  import resource  # pylint: disable=g-import-not-at-top
  result = build_trained_demo(sys.argv[1])
  usage = resource.getrusage(resource.RUSAGE_SELF)
  print(result)
  print(f"CPU seconds (user+sys): {usage.ru_utime + usage.ru_stime:.0f}")
  _report(result)
