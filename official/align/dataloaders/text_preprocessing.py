# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""In-graph WordPiece tokenization of alt-texts into BERT inputs.

`TextTokenizer` wraps Model Garden's `official.nlp.modeling.layers`
`BertTokenizer` (a `tensorflow_text.BertTokenizer` over a vocab lookup table
whose file is tracked as a SavedModel asset) and `BertPackInputs`
(`[CLS] tokens [SEP]`, truncation, padding). It is a `tf.Module`, so the same
object works inside `tf.data.Dataset.map` and as an attribute of an exported
preprocessing SavedModel (`tokenize` / `bert_pack_inputs` / `__call__`).
"""
from typing import Dict

import gin
import tensorflow as tf
from official.nlp.modeling import layers as nlp_layers

RESERVED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@gin.configurable
class TextTokenizer(tf.Module):
  """Strings -> `input_word_ids`, `input_mask`, `input_type_ids`.

  Attributes:
    seq_length: number of tokens per text including `[CLS]` and `[SEP]`.
    special_tokens: dict of Python ints (`start_of_sequence_id`,
      `end_of_segment_id`, `padding_id`, `mask_id`, `vocab_size`).
  """

  def __init__(self,
               vocab_file: str,
               seq_length: int = 64,
               lower_case: bool = True,
               bytes_per_token: int = 32,
               name: str = "text_tokenizer"):
    """Builds the tokenizer.

    Args:
      vocab_file: path of a vocab.txt (one WordPiece per line, `##` marks
        continuations) containing [PAD], [UNK], [CLS], [SEP]. Read through
        `tf.io.gfile`, and tracked as an asset when saved.
      seq_length: output length in tokens (paper: 64); longer texts are
        truncated, shorter are padded with [PAD].
      lower_case: lower-case and strip accents before WordPiece; must match
        how the vocabulary was built.
      bytes_per_token: `__call__` cuts each text to `bytes_per_token *
        seq_length` bytes before tokenizing, so a huge caption (megabytes of
        it) costs no more than a long one. Real text needs far fewer bytes
        per word piece (about 4-6 in English; at most 4 per character), so
        normal captions get the same tokens as uncut.
      name: module name.
    """
    super().__init__(name=name)
    if seq_length < 2:
      raise ValueError(f"seq_length must be >= 2, got {seq_length}")
    if bytes_per_token < 1:
      raise ValueError(f"bytes_per_token must be >= 1, got {bytes_per_token}")
    self.seq_length = seq_length
    self.max_text_bytes = bytes_per_token * seq_length
    self.lower_case = lower_case
    self._tokenizer = nlp_layers.BertTokenizer(
        vocab_file=vocab_file, lower_case=lower_case)
    self.special_tokens = self._tokenizer.get_special_tokens_dict()
    for k in ("start_of_sequence_id", "end_of_segment_id", "padding_id"):
      if k not in self.special_tokens:
        raise ValueError(f"{vocab_file} lacks the special token for {k}.")
    self._packer = nlp_layers.BertPackInputs(
        seq_length, special_tokens_dict=self.special_tokens)

  @property
  def vocab_size(self) -> int:
    return int(self.special_tokens["vocab_size"])

  def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
    """string [B] -> int32 RaggedTensor [B, (words), (pieces)]."""
    return tf.cast(self._tokenizer(texts), tf.int32)

  def bert_pack_inputs(self, tokens: tf.RaggedTensor) -> Dict[str, tf.Tensor]:
    """Ragged token ids [B, ...] -> dict of int32 [B, seq_length]."""
    packed = self._packer(tokens)
    return {k: tf.cast(v, tf.int32) for k, v in packed.items()}

  def __call__(self, texts: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Tokenizes and packs a batch of texts.

    Args:
      texts: string [B] (UTF-8), or a string scalar (then outputs are [L]);
        only the first `max_text_bytes` bytes of each are read.

    Returns:
      dict with int32 tensors `input_word_ids` (token ids, [PAD]-padded),
      `input_mask` (1 for real tokens), `input_type_ids` (all 0), each
      [B, seq_length].
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    scalar = texts.shape.rank == 0
    if scalar:
      texts = texts[tf.newaxis]
    # A character cut in two at the end becomes [UNK], past seq_length.
    texts = tf.strings.substr(texts, 0, self.max_text_bytes)
    packed = self.bert_pack_inputs(self.tokenize(texts))
    for v in packed.values():
      v.set_shape([None, self.seq_length])
    if scalar:
      packed = {k: v[0] for k, v in packed.items()}
    return packed
