# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Image and text embeddings for TensorBoard's Embedding Projector.

  python -m official.align.evaluation.projector \
      --hub_dir=runs/demo/export | --model_dir=runs/demo/model \
      --karpathy_json=dataset_flickr30k.json --image_dir=flickr30k-images \
      --split=test --max_images=500 --output_dir=runs/projector
  tensorboard --logdir=runs/projector     # then the "Projector" tab

`write_projector` stores the images' and captions' embeddings as one
tensor (images first), so nearest neighbours cross modalities, with
`metadata.tsv` (modality, caption, image index) and a sprite of thumbnails
(captions are drawn as text tiles) in `log_dir`.
"""
import math
import os
import sys
from typing import List, Optional, Sequence, Union

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageOps
import tensorflow as tf

from tensorboard.plugins import projector as tb_projector

from official.align.inference import model_flags
from official.align.evaluation import karpathy

CHECKPOINT_NAME = "embeddings.ckpt"
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
MAX_SPRITE_SIDE = 8192  # TensorBoard's limit, pixels.


def _tsv_field(text: str) -> str:
  """One TSV field: tabs and newlines become spaces."""
  return " ".join(str(text).split())


def image_thumbnail(image: Union[str, np.ndarray], size: int) -> Image.Image:
  """A `size`² RGB centre-cropped thumbnail of a file path or an array
  ([H, W, 3], uint8 or float in [0, 1])."""
  if isinstance(image, (str, os.PathLike)):
    with tf.io.gfile.GFile(os.fspath(image), "rb") as f:
      picture = Image.open(f)
      picture.load()
  else:
    array = np.asarray(image)
    if array.dtype != np.uint8:
      array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    picture = Image.fromarray(array)
  return ImageOps.fit(picture.convert("RGB"), (size, size))


def text_thumbnail(text: str, size: int) -> Image.Image:
  """A light `size`² tile with the start of `text` written on it."""
  tile = Image.new("RGB", (size, size), (235, 235, 245))
  draw = ImageDraw.Draw(tile)
  chars = max(1, size // 6)
  words, lines, line = text.split(), [], ""
  for word in words:
    if len(line) + len(word) + 1 > chars and line:
      lines.append(line)
      line = ""
    line = f"{line} {word}".strip()
  lines.append(line)
  for row, content in enumerate(lines[:max(1, size // 11)]):
    draw.text((2, 1 + 11 * row), content[:chars], fill=(20, 20, 60))
  return tile


def write_sprite(path: str, tiles: Sequence[Image.Image], size: int):
  """Writes tiles row-major into a square grid PNG."""
  columns = math.ceil(math.sqrt(len(tiles)))
  sprite = Image.new("RGB", (columns * size, columns * size), (0, 0, 0))
  for i, tile in enumerate(tiles):
    sprite.paste(tile, ((i % columns) * size, (i // columns) * size))
  with tf.io.gfile.GFile(path, "wb") as f:
    sprite.save(f, format="PNG")


def write_projector(log_dir: str,
                    image_embeddings: np.ndarray,
                    text_embeddings: np.ndarray,
                    images: Sequence[Union[str, np.ndarray]],
                    captions: Sequence[str],
                    text_to_image: Sequence[int],
                    thumbnail_size: int = 48) -> List[str]:
  """Writes a Projector log dir of images and captions in one space.

  Args:
    log_dir: output directory (created).
    image_embeddings: float [num_images, dim].
    text_embeddings: float [num_texts, dim].
    images: [num_images] file paths or [H, W, 3] arrays (thumbnails).
    captions: [num_texts] strings.
    text_to_image: [num_texts] image index of each caption.
    thumbnail_size: sprite tile side, pixels (shrunk if the sprite would
      exceed TensorBoard's 8192 px).

  Returns:
    The files written (checkpoint prefix, metadata, sprite, config).
  """
  image_embeddings = np.asarray(image_embeddings, np.float32)
  text_embeddings = np.asarray(text_embeddings, np.float32)
  num_images, num_texts = len(image_embeddings), len(text_embeddings)
  if len(images) != num_images or len(captions) != num_texts or len(
      text_to_image) != num_texts:
    raise ValueError("Need one image per image embedding and one caption "
                     "and image index per text embedding.")
  if image_embeddings.shape[1:] != text_embeddings.shape[1:]:
    raise ValueError("Image and text embeddings differ in size.")
  total = num_images + num_texts
  size = min(thumbnail_size, MAX_SPRITE_SIDE // math.ceil(math.sqrt(total)))
  if size < 4:
    raise ValueError(f"{total} points do not fit a {MAX_SPRITE_SIDE} px "
                     "sprite; export fewer.")
  tf.io.gfile.makedirs(log_dir)

  first_caption = {}
  for caption, owner in zip(captions, text_to_image):
    first_caption.setdefault(int(owner), caption)
  rows = ["modality\tcaption\timage"]
  rows += [f"image\t{_tsv_field(first_caption.get(i, ''))}\t{i}"
           for i in range(num_images)]
  rows += [f"text\t{_tsv_field(c)}\t{int(o)}"
           for c, o in zip(captions, text_to_image)]
  metadata = os.path.join(log_dir, METADATA_FILE)
  with tf.io.gfile.GFile(metadata, "w") as f:
    f.write("\n".join(rows) + "\n")

  tiles = [image_thumbnail(image, size) for image in images]
  tiles += [text_thumbnail(caption, size) for caption in captions]
  sprite = os.path.join(log_dir, SPRITE_FILE)
  write_sprite(sprite, tiles, size)

  embedding = tf.Variable(np.concatenate([image_embeddings, text_embeddings]),
                          name="embedding")
  prefix = tf.train.Checkpoint(embedding=embedding).write(
      os.path.join(log_dir, CHECKPOINT_NAME))

  config = tb_projector.ProjectorConfig()
  entry = config.embeddings.add()
  entry.tensor_name = TENSOR_NAME
  entry.metadata_path = METADATA_FILE
  entry.sprite.image_path = SPRITE_FILE
  entry.sprite.single_image_dim.extend([size, size])
  tb_projector.visualize_embeddings(log_dir, config)
  return [prefix, metadata, sprite,
          os.path.join(log_dir, "projector_config.pbtxt")]


def _define_flags():
  model_flags.define_model_flags()
  flags.adopt_module_key_flags(model_flags)
  flags.DEFINE_string("karpathy_json", None, "Karpathy split JSON.")
  flags.DEFINE_string("image_dir", None, "Directory of the images.")
  flags.DEFINE_list("split", ["test"], "Karpathy split(s).")
  flags.DEFINE_integer("captions_per_image", 5, "First N captions (0: all).")
  flags.DEFINE_integer("max_images", 500, "Export the first N images.")
  flags.DEFINE_integer("thumbnail_size", 48, "Sprite tile side, pixels.")
  flags.DEFINE_string("output_dir", None, "Output (open with tensorboard "
                      "--logdir).")


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    # The JSON is validated before the model loads (fails in seconds).
    dataset = karpathy.load_karpathy(
        f.karpathy_json, f.image_dir, splits=f.split,
        captions_per_image=f.captions_per_image or None,
        max_images=f.max_images)
    embedder = model_flags.from_flags(progress=True)
    written = write_projector(
        f.output_dir, embedder.embed_image_files(dataset.image_paths),
        embedder.embed_texts(dataset.captions), dataset.image_paths,
        dataset.captions, dataset.text_to_image, f.thumbnail_size)
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"projector: error: {e}")
  print("\n".join(written))
  print(f"tensorboard --logdir={f.output_dir}")


if __name__ == "__main__":
  _define_flags()
  flags.mark_flags_as_required(["karpathy_json", "image_dir", "output_dir"])
  app.run(main)
