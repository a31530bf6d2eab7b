# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The preprocessing of a model, declared once.

A trained ALIGN tower only works on inputs prepared as in training: the same
crop size, pixel range, tokenizer and sequence length. `Preprocessing` holds
these settings in one gin-configurable value that every consumer reads:

* `dataloaders.input_reader.InputReader` and
  `transfer.classification_input.ClassificationInputReader` (training data);
* `modeling.align_model.build_align_model` and
  `transfer.classifier_model.build_classifier_model` (the input shapes that
  create the variables);
* `serving` (the exported modules) and `inference` (embedders);
* `checkpoints.hf_align` (a converted checkpoint's processor settings).

The trainer records it in the run directory (`run_dir.PREPROCESSING_FILE`,
JSON), so that loading a run never needs the training configuration. A
config binds each number once, e.g. with gin macros:

    IMAGE_SIZE = 64
    Preprocessing.image_size = %IMAGE_SIZE

This module imports nothing heavy (no TensorFlow): it is the bottom floor.
"""
import dataclasses
import json
from typing import Any, Dict, Optional

import gin

PIXEL_RANGES = ("unit", "symmetric")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Image and text preprocessing of a model (paper defaults).

  Attributes:
    image_size: side of the square tower input (central crop in evaluation,
      random crop in training), pixels.
    resize_size: shorter image side after resizing, before the crop, pixels.
    pixel_range: "unit" (pixels in [0, 1]) or "symmetric" ([-1, 1]).
    seq_length: tokens per text, [CLS] and [SEP] included.
    lower_case: lower-case (and strip accents) before WordPiece.
    vocab_file: the WordPiece vocab.txt, or None for image-only models.
  """
  image_size: int = 289
  resize_size: int = 346
  pixel_range: str = "unit"
  seq_length: int = 64
  lower_case: bool = True
  vocab_file: Optional[str] = None

  def __post_init__(self):
    if self.pixel_range not in PIXEL_RANGES:
      raise ValueError(f"Preprocessing.pixel_range must be one of "
                       f"{PIXEL_RANGES}, got {self.pixel_range!r}.")

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

  @classmethod
  def from_dict(cls, values: Dict[str, Any], source: str = "") -> (
      "Preprocessing"):
    """From a dict of fields; unknown keys are an error naming `source`."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ValueError(f"{source or 'preprocessing'}: unknown fields "
                       f"{unknown} (known: {sorted(names)}).")
    # `Preprocessing(...)` would fill unset fields from the gin config.
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    return cls(**dict(defaults, **values))

  def replace(self, **changes) -> "Preprocessing":
    return dataclasses.replace(self, **changes)
