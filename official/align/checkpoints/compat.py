# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""Checks that a checkpoint and a vocabulary fit a built model, before work.

`tf.train.Checkpoint.restore` matches objects by their attribute paths: a
checkpoint of a deeper or wider model restores whatever happens to match
and fails late (or never) on the rest, and a vocabulary larger than the
word-embedding table only fails at the first out-of-range token id, deep in
a training step or a served graph. The trainer and `run_dir` call these
checks right after building the model, so such a mismatch is a one-line
`ConfigError` naming the first offending variable or file.
"""
import collections
from typing import Optional

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_VARIABLE_VALUE = "VARIABLE_VALUE"
_ATTRIBUTES = "/.ATTRIBUTES/"


class ConfigError(ValueError):
  """The configuration does not fit its inputs (checkpoint, vocabulary)."""


def _variable_names(reader, graph, node_id: int):
  """Checkpoint keys of the variables in the subtree under `node_id`."""
  names, queue, seen = [], collections.deque([node_id]), set()
  while queue:
    node_id = queue.popleft()
    if node_id in seen:
      continue
    seen.add(node_id)
    node = graph.nodes[node_id]
    names.extend(a.checkpoint_key for a in node.attributes
                 if a.name == _VARIABLE_VALUE and reader.has_tensor(
                     a.checkpoint_key))
    queue.extend(child.node_id for child in node.children)
  return names


def _live_variables(obj):
  """Variables reachable from a trackable object."""
  if isinstance(obj, tf.Variable):
    return [obj]
  return [v for v in tf.train.TrackableView(obj).descendants()
          if isinstance(v, tf.Variable)]


def _short(checkpoint_key: str) -> str:
  return checkpoint_key.split(_ATTRIBUTES)[0]


def check_checkpoint_fits_model(checkpoint_path: str, model,
                                root_name: str = "model",
                                ignore_children=("optimizer",)) -> None:
  """Raises `ConfigError` unless the checkpoint's model is shaped like `model`.

  Walks the checkpoint's object graph from its `root_name` child and the
  live model's trackable children in parallel (the matching `restore`
  does) and compares every variable's shape. Objects of the checkpoint the
  model does not have (and vice versa) count as mismatches when they hold
  variables, except the children named in `ignore_children` (a compiled
  model tracks its optimizer, an exported one does not).

  Args:
    checkpoint_path: checkpoint prefix, e.g. `model_dir/checkpoints/ckpt-600`.
    model: the built model (variables created).
    root_name: the checkpoint's child holding the model.
    ignore_children: child names skipped on either side.

  Raises:
    ConfigError: naming the first mismatching variable (breadth first).
  """
  reader = tf.train.load_checkpoint(checkpoint_path)
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
  shapes = reader.get_variable_to_shape_map()
  start = [c.node_id for c in graph.nodes[0].children
           if c.local_name == root_name]
  prefix = (f"Checkpoint {checkpoint_path} does not fit the configured model "
            "(a different architecture?):")
  if not start:
    raise ConfigError(f"{prefix} it holds no '{root_name}'.")
  queue = collections.deque([(start[0], model)])
  seen = set()
  while queue:
    node_id, obj = queue.popleft()
    if node_id in seen:
      continue
    seen.add(node_id)
    node = graph.nodes[node_id]
    if isinstance(obj, tf.Variable):
      for attribute in node.attributes:
        if attribute.name != _VARIABLE_VALUE:
          continue
        saved = shapes.get(attribute.checkpoint_key)
        if saved is not None and list(saved) != obj.shape.as_list():
          raise ConfigError(
              f"{prefix} {_short(attribute.checkpoint_key)} has shape "
              f"{list(saved)} in the checkpoint but {obj.shape.as_list()} "
              "in the model.")
    live = tf.train.TrackableView(obj).children(obj)
    saved_children = {c.local_name: c.node_id for c in node.children}
    for name, child_id in saved_children.items():
      if name in ignore_children:
        continue
      if name in live:
        queue.append((child_id, live[name]))
        continue
      extra = _variable_names(reader, graph, child_id)
      if extra:
        raise ConfigError(f"{prefix} {_short(extra[0])} is in the checkpoint "
                          "but not in the model.")
    for name, child in live.items():
      if name in saved_children or name in ignore_children:
        continue
      missing = _live_variables(child)
      if missing:
        raise ConfigError(f"{prefix} the model's variable {missing[0].name} "
                          f"({name}) is not in the checkpoint.")


def vocabulary_size(vocab_file: str) -> int:
  """Number of tokens (lines) of a vocab.txt."""
  with tf.io.gfile.GFile(vocab_file, "r") as f:
    return len(f.read().splitlines())


def check_vocabulary_fits_model(vocab_file: Optional[str], model,
                                table_source: str = "model") -> None:
  """Raises `ConfigError` if token ids of `vocab_file` overflow the table.

  A vocabulary smaller than the word-embedding table is accepted (tables
  are often padded, and the demo learns at most `TextEncoder.vocab_size`
  tokens); a larger one would feed ids past the table's last row.

  Args:
    vocab_file: the tokenizer's vocab.txt; None skips the check.
    model: a built model; models without a `text_encoder` are skipped.
    table_source: what the table comes from, for the message.
  """
  text_encoder = getattr(model, "text_encoder", None)
  if vocab_file is None or text_encoder is None:
    return
  if not tf.io.gfile.exists(vocab_file):
    raise ConfigError(f"Vocabulary file not found: {vocab_file}")
  rows = int(text_encoder.bert.get_embedding_table().shape[0])
  size = vocabulary_size(vocab_file)
  if size > rows:
    raise ConfigError(
        f"Vocabulary {vocab_file} has {size} tokens but the {table_source}'s "
        f"word-embedding table has {rows} rows (TextEncoder.vocab_size); "
        "use the vocabulary the model was trained with.")
