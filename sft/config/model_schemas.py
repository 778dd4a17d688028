"""The structured configs: one dataclass per `_target_` with its keys, types and defaults.

`sft.schema` checks composed configs against these (types, unknown keys) and adds what a
dataclass cannot say: value ranges and choices that do not fit together. The data and logger
groups' dataclasses are in sft.schema_data_types; SCHEMAS below maps every target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from sft.config.data_schemas import (AudioDataSchema, DigitsDataSchema, ImageDataSchema,
                                   MLflowSchema, NullTrackerSchema, TextDataSchema)


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
    pooling: Pooling = Pooling.mean
    max_length: int = 256
    trust_remote_code: bool = False
    attn_implementation: str = "auto"
    init: Init = Init.pretrained


@dataclass
class LinearHeadSchema:
    _target_: str = MISSING
    dropout: float = 0.1


@dataclass
class MLPHeadSchema:
    _target_: str = MISSING
    hidden_sizes: List[int] = field(default_factory=lambda: [256])
    activation: Activation = Activation.gelu
    dropout: float = 0.1


@dataclass
class CrossEntropySchema:
    _target_: str = MISSING
    label_smoothing: float = 0.0
    class_weights: Any = None


@dataclass
class FocalSchema:
    _target_: str = MISSING
    gamma: float = 2.0
    class_weights: Any = None


@dataclass
class BCESchema:
    _target_: str = MISSING
    pos_weight: Any = None  # a number, or a list with one per label (checked in sft.schema)


@dataclass
class MSESchema:
    _target_: str = MISSING


@dataclass
class HuberSchema:
    _target_: str = MISSING
    delta: float = 1.0


@dataclass
class AdamSchema:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = MISSING
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass
class SGDSchema:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = MISSING
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0


@dataclass
class SchedulerSchema:
    _target_: str = MISSING
    _partial_: bool = True
    name: ScheduleName = ScheduleName.linear
    warmup: float = 0.0


@dataclass
class PenaltySchema:
    _target_: str = MISSING
    weight: float = MISSING
    scope: Scope = Scope.all


@dataclass
class ElasticNetSchema:
    _target_: str = MISSING
    l1_weight: float = MISSING
    l2_weight: float = MISSING
    scope: Scope = Scope.all


@dataclass
class L2SPSchema:
    _target_: str = MISSING
    alpha: float = MISSING
    beta: float = MISSING
    scope: Scope = Scope.all


@dataclass
class FullFineTuneSchema:
    _target_: str = MISSING
    head_lr_mult: float = 1.0


@dataclass
class LayerwiseSchema(FullFineTuneSchema):
    decay: float = 0.9


@dataclass
class FreezeBottomSchema(LayerwiseSchema):
    k: int = 2
    decay: float = 1.0


@dataclass
class GradualUnfreezeSchema(LayerwiseSchema):
    every_n_epochs: int = 1
    decay: float = 1.0


@dataclass
class ReinitTopSchema(LayerwiseSchema):
    k: int = 1
    decay: float = 1.0


@dataclass
class LoRASchema(LayerwiseSchema):
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: Optional[List[str]] = None
    lr_mult: float = 10.0
    decay: float = 1.0


@dataclass
class MonitorSchema:
    metric: str = "auto"
    mode: str = "auto"


# `_target_` -> schema. A target not listed here (a user's own class) is not type-checked.
SCHEMAS: Dict[str, type] = {
    "sft.model.backbone.Backbone": BackboneSchema,
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
    "sft.tracking.mlflow_tracker.MLflowTracker": MLflowSchema,
    "sft.tracking.null.NullTracker": NullTrackerSchema,
}
