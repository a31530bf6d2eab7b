"""Hugging Face ALIGN → our model_dir, checked against transformers itself.

One randomly initialised small `transformers.AlignModel` (EfficientNet at
width 0.5 / depth 0.26: 8 MBConv blocks, one residual repeat, two
symmetric-padding blocks; 2-layer BERT; 160-d) with random BatchNorm
statistics is saved with `save_pretrained`, converted once, loaded the way
fine-tuning loads it and exported once; the tests compare embeddings and
logits with the PyTorch model on the same inputs. Images are 51 px: the stem
and the first strided depthwise conv see odd sizes and a symmetric block an
even one, where explicit and 'same' padding differ.
"""
import json
import os

import gin
import numpy as np
import pytest
from safetensors import numpy as safetensors_numpy
import tensorflow as tf
import torch
import transformers

from official.align import gin_utils
from official.align import preprocessing as preprocessing_lib
from official.align import run_dir
from official.align.dataloaders import shard_format
from official.align.runtime import config as config_lib
from official.align.tasks import align_task
from official.align.tasks import classification_task
from official.align.checkpoints import hf_align
from official.align.modeling import align_model
from official.align.serving import export_lib
from official.align.transfer import classifier_model

IMAGE_SIZE = 51
SEQ_LENGTH = 64
TOLERANCE = 1e-4
WORDS = ("[PAD] [UNK] [CLS] [SEP] [MASK] a photo of the red green blue "
         "circle square triangle dog cat cafe , . ! ##s").split()
VOCAB = WORDS + [f"word{i}" for i in range(64 - len(WORDS))]
TEXTS = ["A photo of the RED dog.", "a blue café, a green square!",
         "zebra cats", ""]


def _randomize(model: transformers.AlignModel, seed: int = 0):
  """O(1) activations everywhere; random BatchNorm statistics."""
  generator = torch.Generator().manual_seed(seed)
  randn = lambda shape: torch.randn(shape, generator=generator)
  with torch.no_grad():
    for name, param in model.named_parameters():
      if name == "temperature":
        param.fill_(0.03)
      elif param.ndim == 4:  # Convolutions: fan-in scaled.
        param.copy_(randn(param.shape) * 1.5 / np.sqrt(param[0].numel()))
      elif "norm" in name.lower() or name.split(".")[-2].endswith("bn"):
        param.copy_(torch.rand(param.shape, generator=generator) + 0.5
                    if name.endswith("weight") else randn(param.shape) * 0.1)
      elif name.startswith("vision_model"):
        param.copy_(randn(param.shape) * 0.1)
      elif "embeddings" in name:
        param.copy_(randn(param.shape))
      elif param.ndim == 2:  # Linear layers: fan-in scaled.
        param.copy_(randn(param.shape) / np.sqrt(param.shape[1]))
      else:
        param.copy_(randn(param.shape) * 0.1)
    for name, buffer in model.named_buffers():
      if name.endswith("running_mean"):
        buffer.copy_(randn(buffer.shape) * 0.2)
      elif name.endswith("running_var"):
        buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)


def _write_snapshot(model, path: str):
  model.save_pretrained(path)
  with open(os.path.join(path, "vocab.txt"), "w") as f:
    f.write("\n".join(VOCAB) + "\n")
  with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
    json.dump({"do_lower_case": True, "model_max_length": SEQ_LENGTH}, f)
  # align-base's processor: resize, no extra crop margin, [-1, 1].
  with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
    json.dump({"image_processor_type": "EfficientNetImageProcessor",
               "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
               "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
               "do_center_crop": False, "do_rescale": True,
               "rescale_factor": 1 / 127.5, "rescale_offset": True,
               "do_normalize": False, "resample": 2}, f)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
  """(snapshot dir, torch model, inputs, transformers' outputs)."""
  torch.manual_seed(0)
  config = transformers.AlignConfig(
      vision_config=dict(width_coefficient=0.5, depth_coefficient=0.26,
                         depthwise_padding=[3, 5], image_size=IMAGE_SIZE),
      text_config=dict(vocab_size=len(VOCAB), hidden_size=32,
                       num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64,
                       max_position_embeddings=SEQ_LENGTH),
      projection_dim=160)
  model = transformers.AlignModel(config).eval()
  _randomize(model)
  path = str(tmp_path_factory.mktemp("hf_snapshot"))
  _write_snapshot(model, path)

  tokenizer = transformers.BertTokenizer(
      os.path.join(path, "vocab.txt"), do_lower_case=True)
  tokens = tokenizer(TEXTS, padding="max_length", max_length=SEQ_LENGTH,
                     truncation=True, return_tensors="np")
  images = np.random.default_rng(0).uniform(
      size=(3, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)  # [0, 1].
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tokens["input_ids"]),
                attention_mask=torch.tensor(tokens["attention_mask"]),
                token_type_ids=torch.tensor(tokens["token_type_ids"]),
                pixel_values=torch.tensor(images * 2 - 1).permute(0, 3, 1, 2))
  reference = dict(image=out.image_embeds.numpy(),
                   text=out.text_embeds.numpy(),
                   logits_per_text=out.logits_per_text.numpy(),
                   input_word_ids=tokens["input_ids"].astype(np.int32),
                   input_mask=tokens["attention_mask"].astype(np.int32),
                   images=images)
  return path, model, reference


@pytest.fixture(scope="module")
def converted(snapshot, tmp_path_factory):
  """model_dir of the converted snapshot."""
  model_dir = os.path.join(str(tmp_path_factory.mktemp("converted")), "model")
  checkpoint = hf_align.convert(snapshot[0], model_dir)
  yield model_dir, checkpoint
  gin.clear_config()


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _our_embeddings(model, reference):
  inputs = {
      align_model.IMAGE_KEY: tf.constant(reference["images"] * 2 - 1),
      "input_word_ids": tf.constant(reference["input_word_ids"]),
      "input_mask": tf.constant(reference["input_mask"]),
      "input_type_ids": tf.zeros_like(reference["input_word_ids"]),
  }
  out = model(inputs, training=False)
  return out["image_embeddings"].numpy(), out["text_embeddings"].numpy()


def test_converted_model_matches_transformers(snapshot, converted):
  path, _, reference = snapshot
  model_dir, checkpoint = converted
  assert checkpoint == os.path.join(model_dir, "checkpoints", "ckpt-0")
  assert sorted(os.listdir(model_dir)) == [
      "checkpoints", "operative_config.gin", "preprocessing.json",
      "vocab.txt"]
  # As train.py starts fine-tuning from it: operative config +
  # AlignTask.init_checkpoint (every model variable must match).
  with gin.unlock_config():
    gin.clear_config()
  gin_utils.parse_gin([os.path.join(model_dir, "operative_config.gin")], [])
  serving = preprocessing_lib.Preprocessing()  # As the parsed config says.
  assert serving == run_dir.read_preprocessing(model_dir)
  assert (serving.seq_length, serving.lower_case, serving.image_size,
          serving.resize_size, serving.pixel_range) == (
              SEQ_LENGTH, True, IMAGE_SIZE, IMAGE_SIZE, "symmetric")
  model = align_task.AlignTask(init_checkpoint=model_dir).build_model()
  image, text = _our_embeddings(model, reference)
  logits = text @ image.T / float(model.temperature.numpy())
  assert _max_diff(image, reference["image"]) <= TOLERANCE
  assert _max_diff(text, reference["text"]) <= TOLERANCE
  assert _max_diff(logits, reference["logits_per_text"]) <= TOLERANCE
  assert np.isclose(float(model.temperature.numpy()), 0.03)
  # The comparison is not vacuous: the embeddings differ between inputs,
  # and Keras' 'same' padding with the same weights does not reproduce HF at
  # this odd size.
  assert _max_diff(image[0], image[1]) > 50 * TOLERANCE
  assert _max_diff(text[0], text[1]) > 50 * TOLERANCE
  with open(os.path.join(model_dir, "operative_config.gin")) as f:
    config = f.read().replace("ImageEncoder.padding = 'explicit'",
                              "ImageEncoder.padding = 'same'")
  same_padding = hf_align.build_model(config.replace(
      "symmetric_padding_blocks = [3, 5]", "symmetric_padding_blocks = []"))
  hf_align.assign_weights(same_padding, hf_align.load_state_dict(path))
  same_image, _ = _our_embeddings(same_padding, reference)
  assert _max_diff(same_image, reference["image"]) > 1e-2


def test_batch_norm_statistics_are_converted(snapshot, converted):
  _, torch_model, _ = snapshot
  reader = tf.train.load_checkpoint(converted[1])
  moving = {k: reader.get_tensor(k)
            for k in reader.get_variable_to_shape_map()
            if "moving_mean" in k or "moving_variance" in k}
  running = {k: v.numpy() for k, v in torch_model.state_dict().items()
             if k.endswith(("running_mean", "running_var"))}
  assert len(moving) == len(running) > 30
  ours = sorted(np.round(np.sort(v), 5).tobytes() for v in moving.values())
  theirs = sorted(np.round(np.sort(v), 5).tobytes() for v in running.values())
  assert ours == theirs


def test_exported_modules_match_transformers(snapshot, converted,
                                             tmp_path_factory):
  _, _, reference = snapshot
  export_dir = os.path.join(str(tmp_path_factory.mktemp("export")), "hub")
  export_lib.export(converted[0], export_dir)
  image_module = tf.saved_model.load(
      os.path.join(export_dir, "image_encoder"))
  text_module = tf.saved_model.load(os.path.join(export_dir, "text_encoder"))
  preprocessor = tf.saved_model.load(
      os.path.join(export_dir, "text_preprocessor"))

  # Images in [0, 1]; the module rescales to [-1, 1] inside.
  image = image_module.signatures["serving_default"](
      images=tf.constant(reference["images"]))["embeddings"].numpy()
  # Strings in; WordPiece inside must give transformers' BertTokenizer ids.
  packed = preprocessor(tf.constant(TEXTS))
  np.testing.assert_array_equal(packed["input_word_ids"].numpy(),
                                reference["input_word_ids"])
  text = text_module.signatures["serving_default"](
      text=tf.constant(TEXTS))["embeddings"].numpy()
  scale = float(text_module.signatures["logit_scale"]()["logit_scale"])
  assert _max_diff(image, reference["image"]) <= TOLERANCE
  assert _max_diff(text, reference["text"]) <= TOLERANCE
  assert _max_diff(scale * text @ image.T,
                   reference["logits_per_text"]) <= TOLERANCE


def test_pytorch_bin_loads_the_same_tensors(snapshot, tmp_path):
  path, torch_model, _ = snapshot
  torch.save(torch_model.state_dict(), str(tmp_path / "pytorch_model.bin"))
  from_bin = hf_align.load_state_dict(str(tmp_path))
  from_safetensors = hf_align.load_state_dict(path)
  assert sorted(from_bin) == sorted(from_safetensors)
  for key, value in from_safetensors.items():
    np.testing.assert_array_equal(from_bin[key], value, err_msg=key)


def test_extra_and_missing_tensors_are_named_and_nothing_is_written(
    snapshot, tmp_path):
  path, _, _ = snapshot
  broken = tmp_path / "broken"
  broken.mkdir()
  for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
    (broken / name).write_bytes(open(os.path.join(path, name), "rb").read())
  state = hf_align.load_state_dict(path)
  missing_key = "vision_model.encoder.blocks.4.squeeze_excite.expand.bias"
  extra_key = "vision_model.encoder.top_conv.weight"
  del state[missing_key]
  state[extra_key] = np.zeros([4, 4, 1, 1], np.float32)
  safetensors_numpy.save_file(state, str(broken / "model.safetensors"))
  model_dir = tmp_path / "out"

  with pytest.raises(hf_align.ConversionError) as error:
    hf_align.convert(str(broken), str(model_dir))
  message = str(error.value)
  assert "nothing was written" in message
  assert extra_key in message and missing_key in message
  assert "1 tensors of the snapshot with no model variable" in message
  assert "1 model variables left without a tensor" in message
  assert not model_dir.exists()
  assert [p.name for p in tmp_path.iterdir()] == ["broken"]


def test_unsupported_architectures_are_listed():
  config = {
      "vision": dict(hf_align.HF_VISION_DEFAULTS, width_coefficient=0.25,
                     pooling_type="max"),
      "text": dict(hf_align.HF_TEXT_DEFAULTS, hidden_act="gelu_new",
                   layer_norm_eps=1e-5),
      "align": dict(hf_align.HF_ALIGN_DEFAULTS),
  }
  with pytest.raises(hf_align.ConversionError) as error:
    hf_align.check_architecture(config)
  message = str(error.value)
  for problem in ("pooling_type='max'", "hidden_act='gelu_new'",
                  "layer_norm_eps=1e-05", "stage 0's first block"):
    assert problem in message


def test_align_base_defaults_give_the_b7_bert_base_config():
  config = {"vision": dict(hf_align.HF_VISION_DEFAULTS, image_size=289),
            "text": dict(hf_align.HF_TEXT_DEFAULTS),
            "align": dict(hf_align.HF_ALIGN_DEFAULTS)}
  hf_align.check_architecture(config)
  preprocessing = preprocessing_lib.Preprocessing(
      seq_length=64, lower_case=True, image_size=289, resize_size=289,
      pixel_range="symmetric")
  text = hf_align.operative_config(config, preprocessing, "/v/vocab.txt")
  for line in ("ImageEncoder.model_id = 'b7'", "ImageEncoder.embed_dim = None",
               "ImageEncoder.padding = 'explicit'",
               "ImageEncoder.se_inner_activation = 'swish'",
               "TextEncoder.embed_dim = 640", "TextEncoder.vocab_size = 30522",
               "TextEncoder.num_layers = 12",
               "TextEncoder.max_sequence_length = 512",
               "Preprocessing.image_size = 289",
               "Preprocessing.pixel_range = 'symmetric'",
               "Preprocessing.vocab_file = '/v/vocab.txt'"):
    assert line in text.splitlines()


def _png(colour, size=60):
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  Image.new("RGB", (size, size), colour).save(buf, "PNG")
  return buf.getvalue()


def test_probe_and_fine_tune_of_the_converted_checkpoint_use_its_preprocessing(
    converted, tmp_path):
  """The converter records pixels in [-1, 1] and 64 tokens; a config that
  says otherwise (the readers' old defaults were [0, 1]) does not win."""
  model_dir, _ = converted
  recorded = run_dir.read_preprocessing(model_dir)
  assert (recorded.pixel_range, recorded.seq_length) == ("symmetric",
                                                        SEQ_LENGTH)
  # Data: two classes of flat images, as an ImageFolder and as shards.
  for name, colour in (("black", (0, 0, 0)), ("white", (255, 255, 255))):
    (tmp_path / "folder" / name).mkdir(parents=True)
    for i in range(2):
      (tmp_path / "folder" / name / f"{i}.png").write_bytes(_png(colour))
  shards = str(tmp_path / "pairs.tfrecord")
  with tf.io.TFRecordWriter(shards) as writer:
    for i, colour in enumerate(((0, 0, 0), (255, 255, 255)) * 2):
      writer.write(shard_format.make_example(
          f"k{i}", _png(colour), "a photo of the red dog").SerializeToString())
  gin.clear_config()
  try:
    gin_utils.parse_gin(
        [os.path.join(model_dir, "operative_config.gin")],
        ["Preprocessing.pixel_range = 'unit'", "Preprocessing.seq_length = 8",
         "TrainConfig.global_batch_size = 4"])
    config = config_lib.TrainConfig()
    # Linear probe.
    probe = classification_task.ClassificationTask(
        train_data=str(tmp_path / "folder"),
        model_fn=lambda: classifier_model.build_classifier_model(
            num_classes=2, init_checkpoint=model_dir))
    probe.build_model()
    assert probe.preprocessing.pixel_range == "symmetric"
    batch = next(iter(probe.build_inputs(config)(None)))
    assert float(tf.reduce_min(batch["image"])) == pytest.approx(-1.0)
    assert float(tf.reduce_max(batch["image"])) == pytest.approx(1.0)
    # Fine-tuning of the whole model.
    fine_tune = align_task.AlignTask(train_file_pattern=shards,
                                     init_checkpoint=model_dir)
    assert (fine_tune.preprocessing.pixel_range,
            fine_tune.preprocessing.seq_length) == ("symmetric", SEQ_LENGTH)
    batch = next(iter(fine_tune.build_inputs(config)(None)))
    assert batch["input_word_ids"].shape == (4, SEQ_LENGTH)
    assert float(tf.reduce_min(batch["image"])) == pytest.approx(-1.0)
  finally:
    gin.clear_config()


def test_failed_replace_keeps_the_old_conversion(snapshot, converted,
                                                 monkeypatch):
  model_dir, checkpoint = converted
  parent = os.path.dirname(model_dir)
  before = sorted(os.listdir(parent))
  index = open(checkpoint + ".index", "rb").read()
  rename = tf.io.gfile.rename

  def failing_rename(src, dst, overwrite=False):
    if ".tmp-" in os.path.basename(src.rstrip("/")):  # The new output in.
      raise tf.errors.ResourceExhaustedError(None, None, "simulated disk full")
    return rename(src, dst, overwrite)

  monkeypatch.setattr(tf.io.gfile, "rename", failing_rename)
  with pytest.raises(tf.errors.ResourceExhaustedError, match="disk full"):
    hf_align.convert(snapshot[0], model_dir, overwrite=True)
  monkeypatch.undo()
  assert sorted(os.listdir(parent)) == before  # No staged or set-aside dir.
  with open(checkpoint + ".index", "rb") as f:
    assert f.read() == index
  assert tf.train.latest_checkpoint(
      os.path.join(model_dir, run_dir.CHECKPOINT_SUBDIR)) == checkpoint
