"""The structured configs: one dataclass per `_target_` with its keys and types.

Defaults live in one place, the YAML of each choice under conf/, with each key's help as the
comment above it (sft.config.key_help; every field here is MISSING: a key the YAML leaves out
takes the class's own default). `sft.config.schema` checks
composed configs against these (types, unknown keys) and adds what a dataclass cannot say:
value ranges and choices that do not fit together. The data group's dataclasses are in
sft.config.data_schemas, the monitor's and logger's in sft.config.run_schemas; SCHEMAS below
maps every target. A target not listed (a user's own class) is checked against its
constructor's signature instead (sft.config.schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from omegaconf import MISSING

from sft.config.data_schemas import (
    AudioDataSchema,
    DigitsDataSchema,
    HFDatasetSchema,
    ImageDataSchema,
    TextDataSchema,
)
from sft.config.run_schemas import MLflowSchema, NullTrackerSchema


class Pooling(Enum):
    mean = "mean"
    cls = "cls"
    pooler = "pooler"
    max = "max"
    last_token = "last_token"


class Activation(Enum):
    relu = "relu"
    gelu = "gelu"
    tanh = "tanh"
    silu = "silu"


class Scope(Enum):
    head = "head"
    backbone = "backbone"
    all = "all"


class Init(Enum):
    pretrained = "pretrained"
    random = "random"


class ScheduleName(Enum):
    linear = "linear"
    cosine = "cosine"
    constant = "constant"


@dataclass
class BackboneSchema:
    _target_: str = MISSING
    name_or_path: str = MISSING
    pooling: Pooling = MISSING
    max_length: int = MISSING
    trust_remote_code: bool = MISSING
    attn_implementation: str = MISSING
    init: Init = MISSING


@dataclass
class TaskModelSchema:
    """model= configs of whole task models (sft.model.task_model: detection, segmentation)."""

    _target_: str = MISSING
    name_or_path: str = MISSING
    max_length: int = MISSING
    trust_remote_code: bool = MISSING
    init: Init = MISSING
    backbone_from: str | None = None
    # transformers config fields set before the model is built (CTC loss, SpecAugment, ...)
    config: dict[str, Any] | None = None
    freeze_feature_encoder: bool = False
    # encoder-decoder models (Whisper): the decoder prompt and generation settings
    language: str | None = None
    task: str | None = None
    generation: dict[str, Any] | None = None
    # recompute activations in the backward pass; transformers' attention kernel
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None


@dataclass
class LinearHeadSchema:
    _target_: str = MISSING
    dropout: float = MISSING


@dataclass
class MLPHeadSchema:
    _target_: str = MISSING
    hidden_sizes: list[int] = MISSING
    activation: Activation = MISSING
    dropout: float = MISSING


@dataclass
class CrossEntropySchema:
    _target_: str = MISSING
    label_smoothing: float = MISSING
    class_weights: Any = MISSING


@dataclass
class FocalSchema:
    _target_: str = MISSING
    gamma: float = MISSING
    class_weights: Any = MISSING


@dataclass
class BCESchema:
    _target_: str = MISSING
    # a number, or a list with one per label (checked in sft.config.schema)
    pos_weight: Any = MISSING


@dataclass
class MSESchema:
    _target_: str = MISSING


@dataclass
class HuberSchema:
    _target_: str = MISSING
    delta: float = MISSING


@dataclass
class AdamSchema:
    _target_: str = MISSING
    _partial_: bool = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    betas: list[float] = MISSING
    eps: float = MISSING


@dataclass
class SGDSchema:
    _target_: str = MISSING
    _partial_: bool = MISSING
    lr: float = MISSING
    momentum: float = MISSING
    nesterov: bool = MISSING
    weight_decay: float = MISSING


@dataclass
class SchedulerSchema:
    _target_: str = MISSING
    _partial_: bool = MISSING
    name: ScheduleName = MISSING
    warmup: float = MISSING


@dataclass
class PenaltySchema:
    _target_: str = MISSING
    weight: float = MISSING
    scope: Scope = MISSING


@dataclass
class ElasticNetSchema:
    _target_: str = MISSING
    l1_weight: float = MISSING
    l2_weight: float = MISSING
    scope: Scope = MISSING


@dataclass
class L2SPSchema:
    _target_: str = MISSING
    alpha: float = MISSING
    beta: float = MISSING
    scope: Scope = MISSING


@dataclass
class FullFineTuneSchema:
    _target_: str = MISSING
    head_lr_mult: float = MISSING


@dataclass
class LayerwiseSchema(FullFineTuneSchema):
    decay: float = MISSING


@dataclass
class FreezeBottomSchema(LayerwiseSchema):
    k: int = MISSING
    decay: float = MISSING


@dataclass
class GradualUnfreezeSchema(LayerwiseSchema):
    every_n_epochs: int = MISSING
    decay: float = MISSING


@dataclass
class ReinitTopSchema(LayerwiseSchema):
    k: int = MISSING
    decay: float = MISSING


@dataclass
class LoRASchema(LayerwiseSchema):
    r: int = MISSING
    alpha: float = MISSING
    dropout: float = MISSING
    target_modules: list[str] | None = MISSING
    lr_mult: float = MISSING
    decay: float = MISSING


# `_target_` -> schema. A target not listed here (a user's own class) is not type-checked.
SCHEMAS: dict[str, type] = {
    "sft.model.backbone.Backbone": BackboneSchema,
    "sft.model.task_model.load_task_model": TaskModelSchema,
    "sft.model.heads.LinearHead": LinearHeadSchema,
    "sft.model.heads.MLPHead": MLPHeadSchema,
    "sft.model.losses.CrossEntropyLoss": CrossEntropySchema,
    "sft.model.losses.FocalLoss": FocalSchema,
    "sft.model.losses.BCEWithLogitsLoss": BCESchema,
    "sft.model.losses.MSELoss": MSESchema,
    "sft.model.losses.HuberLoss": HuberSchema,
    "torch.optim.AdamW": AdamSchema,
    "torch.optim.Adam": AdamSchema,
    "torch.optim.SGD": SGDSchema,
    "sft.model.optim.warmup_schedule": SchedulerSchema,
    "sft.model.regularizers.L1Penalty": PenaltySchema,
    "sft.model.regularizers.L2Penalty": PenaltySchema,
    "sft.model.regularizers.ElasticNetPenalty": ElasticNetSchema,
    "sft.model.regularizers.L2SP": L2SPSchema,
    "sft.model.finetune.FullFineTune": FullFineTuneSchema,
    "sft.model.finetune.LinearProbe": FullFineTuneSchema,
    "sft.model.finetune.FreezeFeatureEncoder": FullFineTuneSchema,
    "sft.model.finetune.LayerwiseLRDecay": LayerwiseSchema,
    "sft.model.finetune.FreezeBottom": FreezeBottomSchema,
    "sft.model.finetune.GradualUnfreeze": GradualUnfreezeSchema,
    "sft.model.finetune.ReinitTop": ReinitTopSchema,
    "sft.model.lora.LoRA": LoRASchema,
    "sft.data.TextDataModule": TextDataSchema,
    "sft.data.ImageFolderDataModule": ImageDataSchema,
    "sft.data.DigitsDataModule": DigitsDataSchema,
    "sft.data.AudioFolderDataModule": AudioDataSchema,
    "sft.data.hf_dataset": HFDatasetSchema,
    "sft.tracking.mlflow_tracker.MLflowTracker": MLflowSchema,
    "sft.tracking.null.NullTracker": NullTrackerSchema,
}
