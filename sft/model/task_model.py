"""Whole transformers task models: a network that ends in its own head and computes its own
loss (object detection, semantic segmentation), loaded by an `AutoModelFor...` class.

sft's other networks are a backbone + sft's head (sft.model.backbone, sft.model.heads). A
detector's head (class and box queries, a Hungarian-matched loss) or a segmenter's decoder
is part of the architecture, so sft fine-tunes the transformers model as it is and keeps it
whole: the saved folder is a plain transformers model that `AutoModelFor...` loads.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers.utils import logging as hf_logging

from sft.errors import SFTConfigError, first_line
from sft.model.backbone import resolve_model_path

# The loaders sft uses by name (sft_model.json's `auto_class`); a folder cannot name another.
AUTO_CLASSES = (
    "AutoModelForObjectDetection",
    "AutoModelForSemanticSegmentation",
    "AutoModelForCTC",
    "AutoModelForSpeechSeq2Seq",
    "AutoModelForAudioXVector",
    "AutoModelForCausalLM",
)
INITS = ("pretrained", "random")


def auto_class(name: str):
    """The transformers class `name` (one of AUTO_CLASSES); SFTConfigError otherwise."""
    if name not in AUTO_CLASSES:
        raise SFTConfigError(f"auto_class '{name}' is not one of: {', '.join(AUTO_CLASSES)}")
    import transformers  # here: the top-level namespace resolves the Auto class lazily

    return getattr(transformers, name)


class TaskModel(nn.Module):
    """A transformers task model as sft's LightningModule holds a backbone: `encoder` is the
    model itself (what the fine-tuning strategies, LoRA and `save_pretrained` reach),
    `pooling` is `none` (the model's own head reads every position).

    `forward(**inputs)` returns the model's output (a transformers ModelOutput: `loss` when
    `labels` are given, `logits`, and `pred_boxes` for detectors).
    """

    pooling = "none"

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model
        # from_pretrained returns the model in eval mode and Lightning keeps each module's
        # mode: without this, dropout, drop-path and BatchNorm (SegFormer's decode head)
        # would train in eval mode (as sft.model.backbone.Backbone does for backbones).
        self.encoder.train()

    @property
    def hidden_size(self) -> int:
        """The width the model's own head reads (`d_model` or `hidden_size` of its config)."""
        config = self.encoder.config
        for key in ("d_model", "hidden_size", "decoder_hidden_size"):
            if isinstance(getattr(config, key, None), int):
                return getattr(config, key)
        return 0

    def forward(self, **inputs):
        return self.encoder(**inputs)

    def feature_extractor(self) -> nn.Module:
        """The model's transformers backbone (the AutoBackbone a DETR or an UperNet builds:
        what `backbone_from` loads and finetune=linear_probe freezes); SFTConfigError when
        it has none."""
        return find_backbone(self.encoder, "finetune=linear_probe")


def load_task_model(
    auto_class_name: str,
    name_or_path: str,
    label_names: list[str],
    init: str = "pretrained",
    trust_remote_code: bool = False,
    backbone_from: str | None = None,
    max_length: int | None = None,
    config: dict | None = None,
    settings: dict | None = None,
    freeze_feature_encoder: bool = False,
    language: str | None = None,
    task: str | None = None,
    generation: dict | None = None,
    gradient_checkpointing: bool = False,
    attn_implementation: str | None = None,
) -> TaskModel:
    """The task model at `name_or_path` with a head for `label_names`.

    `init=pretrained`: its weights, with the class head replaced when the class count
    differs (transformers' `ignore_mismatched_sizes`); `init=random`: the architecture of its
    config.json with random weights. `id2label`/`label2id` are written into its config, so
    the saved folder names its classes (no labels given: none written; a CTC model's
    outputs are its tokenizer's). `config` (model.config: the user's) and `settings` (the
    task's, from the data: a CTC vocabulary's `vocab_size` and `pad_token_id`) are config
    fields set before the model is built (set_config_fields), so a new vocabulary size
    replaces the output layer as a new class count does. `freeze_feature_encoder`: freeze
    the model's convolutional feature encoder (wav2vec2, HuBERT). `backbone_from`: a model
    folder (e.g. an sft classifier) whose encoder weights are copied into the task model's
    backbone first (load_backbone_weights). `language`, `task`, `generation`: an
    encoder-decoder model's decoder prompt and generation settings (set_generation).
    `max_length` is unused (images and audio have no
    tokens; every model config has the key). Errors: SFTConfigError naming the key, one line.
    """
    from transformers import AutoConfig  # here: with the model load

    cls = auto_class(auto_class_name)
    if init not in INITS:
        raise SFTConfigError(f"model.init={init}: must be one of {', '.join(INITS)}")
    path = resolve_model_path(name_or_path)
    labels = {}
    if label_names:
        labels = {
            "num_labels": len(label_names),
            "id2label": dict(enumerate(label_names)),
            "label2id": {name: i for i, name in enumerate(label_names)},
        }
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    # The head's "newly initialized" / "mismatched sizes" report is expected here: the
    # class head is replaced on purpose. Errors still raise.
    hf_logging.set_verbosity_error()
    try:
        built = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **labels)
        set_config_fields(built, dict(config or {}), "model.config")
        set_config_fields(built, dict(settings or {}), "the task's setting")
        kernel = {"attn_implementation": attn_implementation} if attn_implementation else {}
        if init == "random":
            model = cls.from_config(built, trust_remote_code=trust_remote_code, **kernel)
        else:
            model = cls.from_pretrained(
                path,
                config=built,
                dtype=torch.float32,
                ignore_mismatched_sizes=True,
                trust_remote_code=trust_remote_code,
                **kernel,
            )
    except (OSError, ValueError, KeyError) as err:
        raise SFTConfigError(
            f"model.name_or_path: cannot load {auto_class_name} from '{name_or_path}' "
            f"({first_line(err)})"
        ) from None
    except ImportError as err:  # an attention kernel whose package is missing (flash-attn)
        raise SFTConfigError(
            f"model.attn_implementation={attn_implementation}: {first_line(err)}"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if backbone_from:
        load_backbone_weights(model, backbone_from)
    # The DETR family's __init__ freezes a ResNet backbone by parameter name, written for
    # timm's names (layer2..4 train): with transformers' own ResNet (stages.N) it freezes the
    # whole backbone, and from_pretrained loses the freeze (transformers 5.25, Conditional
    # DETR: init=random left all 9 backbone convolutions frozen, from_pretrained none). Every
    # parameter trains, whatever the init; freezing is the finetune strategy's choice.
    model.requires_grad_(True)
    if freeze_feature_encoder:
        freeze = getattr(model, "freeze_feature_encoder", None)
        if freeze is None:
            raise SFTConfigError(
                f"model.freeze_feature_encoder=true: {type(model).__name__} has no "
                f"convolutional feature encoder (wav2vec2, HuBERT have one)"
            )
        freeze()
    if gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise SFTConfigError(
                f"model.gradient_checkpointing=true: {type(model).__name__} does not support it"
            )
        # transformers 5's name (gradient_checkpointing_enable warns: deprecated).
        reentrant = {"use_reentrant": False}
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=reentrant)
    # A generating model (Whisper; DETR is an encoder-decoder that does not generate) always
    # gets the folder's generation config (init=random builds none: Whisper's generate needs
    # its lang_to_id and task_to_id).
    if language or task or generation or generates(model):
        set_generation(model, path, language, task, dict(generation or {}))
    return TaskModel(model)


def generates(model) -> bool:
    """Whether `model` is an encoder-decoder that generates text (transformers' can_generate)."""
    can = getattr(model, "can_generate", None)
    return bool(can and can() and getattr(model.config, "is_encoder_decoder", False))


def set_generation(model, path: str, language, task, generation: dict) -> None:
    """Set the generation config of `model` (an encoder-decoder, e.g. Whisper): the one saved
    at `path` (init=random builds none), its `language` and `task` (the decoder prompt
    <|startoftranscript|><|language|><|task|>, checked against its `lang_to_id` and
    `task_to_id`), and the `generation` fields (max_new_tokens, num_beams). Saved with the
    model, so generate, sft.load and transformers' pipeline write the same prompt.
    SFTConfigError naming the key, one line."""
    from transformers import GenerationConfig  # here: only encoder-decoder models

    if not generates(model):
        raise SFTConfigError(
            f"model.language/task/generation: {type(model).__name__} does not generate "
            f"(they are for encoder-decoder models such as Whisper)"
        )
    try:
        config = GenerationConfig.from_pretrained(path)
    except OSError:
        config = model.generation_config
    for key, value, known in (
        ("language", language, getattr(config, "lang_to_id", None) or {}),
        ("task", task, getattr(config, "task_to_id", None) or {}),
    ):
        names = [k.strip("<|>") for k in known]
        if value is not None and str(value) not in names:
            raise SFTConfigError(
                f"model.{key}={value}: not one of the model's {key}s "
                f"({', '.join(names[:12])}{', ...' if len(names) > 12 else ''})"
            )
        setattr(config, key, value)
    config.forced_decoder_ids = None  # the prompt comes from language and task
    for key, value in generation.items():
        if not hasattr(config, key):
            raise SFTConfigError(f"model.generation.{key}: not a generation setting")
        setattr(config, key, value)
    model.generation_config = config


def set_config_fields(config, fields: dict, key: str) -> None:
    """Set each field of `fields` on the transformers `config`, or on the sub-config that
    has it (Parakeet keeps `layerdrop` in its `encoder_config`). SFTConfigError naming
    `key` for a field that neither has: a setting the architecture does not have (e.g.
    SpecAugment's `mask_time_prob` on a model without SpecAugment) would do nothing."""
    for name, value in fields.items():
        subs = [getattr(config, s) for s in getattr(config, "sub_configs", {}) or {}]
        holders = [c for c in (config, *subs) if c is not None and hasattr(c, name)]
        if not holders:
            raise SFTConfigError(
                f"{key}.{name}: {type(config).__name__} has no setting '{name}' (the "
                f"architecture does not use it)"
            )
        setattr(holders[0], name, value)


def load_backbone_weights(model: nn.Module, folder: str) -> int:
    """Copy the encoder weights of the model saved in `folder` into `model`'s backbone (the
    submodule transformers builds with AutoBackbone, e.g. the ResNet of a DETR or of an
    UperNet), matched by name after the encoder prefix; returns the tensors copied.

    The way to start a detector or segmenter from a classifier fine-tuned by sft (the same
    ResNet trained on digits, say). SFTConfigError when the folder cannot be loaded, the
    model has no backbone, or a backbone tensor has no match of the same shape (the two
    architectures differ: nothing is copied then).
    """
    from transformers import AutoModel  # here: only for this option

    from sft.model.hf_native import is_native, native_encoder  # here: as AutoModel

    backbone = find_backbone(model, "model.backbone_from")
    try:
        path = Path(folder).expanduser()
        # an sft classifier's folder holds backbone + head as one model: its backbone
        source = (
            native_encoder(path)
            if is_native(path)
            else AutoModel.from_pretrained(str(path), dtype=torch.float32)
        )
    except (OSError, ValueError) as err:
        raise SFTConfigError(
            f"model.backbone_from: cannot load a model from '{folder}' ({first_line(err)})"
        ) from None
    weights = source.state_dict()
    target = backbone.state_dict()
    copied, wrong = {}, []
    for name, tensor in target.items():
        found = weights.get(name)
        if found is None or found.shape != tensor.shape:
            wrong.append(name)
        else:
            copied[name] = found
    # Backbones may hold buffers the source lacks (e.g. BatchNorm's num_batches_tracked in a
    # newer layout); weights and running statistics must all match.
    missing = [n for n in wrong if not n.endswith("num_batches_tracked")]
    if missing:
        raise SFTConfigError(
            f"model.backbone_from: {len(missing)} of {len(target)} backbone tensors of "
            f"{type(backbone).__name__} have no match of that shape in '{folder}' "
            f"(e.g. {missing[0]}): the architectures differ"
        )
    backbone.load_state_dict(copied, strict=False)
    return len(copied)


def find_backbone(model: nn.Module, key: str) -> nn.Module:
    """The transformers backbone (a BackboneMixin module: AutoBackbone's ResNet, ConvNeXt,
    Swin) inside `model`; SFTConfigError naming `key` when there is none (SegFormer's and
    YOLOS's encoders are no AutoBackbone)."""
    from transformers.backbone_utils import BackboneMixin  # here: with the model

    backbone = next((m for m in model.modules() if isinstance(m, BackboneMixin)), None)
    if backbone is None:
        raise SFTConfigError(
            f"{key}: {type(model).__name__} has no transformers backbone (AutoBackbone)"
        )
    return backbone
