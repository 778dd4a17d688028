"""The structured configs: one dataclass per `_target_` with its keys, types and defaults.

`sft.schema` checks composed configs against these (types, unknown keys) and adds what a
dataclass cannot say: value ranges and choices that do not fit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


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


class TaskName(Enum):
    auto = "auto"
    multiclass = "multiclass"
    binary = "binary"
    multilabel = "multilabel"
    regression = "regression"


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
class LayerwiseSchema:
    _target_: str = MISSING
    decay: float = 0.9
    head_lr_mult: float = 1.0


@dataclass
class FreezeBottomSchema:
    _target_: str = MISSING
    k: int = 2
    decay: float = 1.0
    head_lr_mult: float = 1.0


@dataclass
class GradualUnfreezeSchema:
    _target_: str = MISSING
    every_n_epochs: int = 1
    decay: float = 1.0
    head_lr_mult: float = 1.0


@dataclass
class ReinitTopSchema:
    _target_: str = MISSING
    k: int = 1
    decay: float = 1.0
    head_lr_mult: float = 1.0


@dataclass
class LoRASchema:
    _target_: str = MISSING
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: Optional[List[str]] = None
    lr_mult: float = 10.0
    decay: float = 1.0
    head_lr_mult: float = 1.0


@dataclass
class SplitDataSchema:
    """Keys every file-based data module shares: where the splits are, labels, batches."""

    _target_: str = MISSING
    name: str = MISSING
    train_path: str = MISSING
    val_path: Optional[str] = None
    test_path: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    label_column: str = "label"
    task: TaskName = TaskName.auto
    label_separator: str = ","
    threshold: float = 0.5
    batch_size: int = 16
    eval_batch_size: int = 64
    num_workers: int = 0


@dataclass
class TextDataSchema(SplitDataSchema):
    text_column: str = "text"
    standardize: bool = False
    clean_text: bool = False
    group_by_length: bool = True


@dataclass
class ImageDataSchema(SplitDataSchema):
    path_column: str = "path"
    hflip: bool = False
    crop_scale: float = 1.0
    normalize: bool = True
    batch_size: int = 32


@dataclass
class DigitsDataSchema:
    _target_: str = MISSING
    name: str = MISSING
    root: str = MISSING
    size: int = 32
    digits: List[int] = field(default_factory=lambda: list(range(10)))
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    task: TaskName = TaskName.multiclass
    hflip: bool = False
    crop_scale: float = 1.0
    normalize: bool = True
    batch_size: int = 32
    eval_batch_size: int = 64
    num_workers: int = 0


@dataclass
class AudioDataSchema(SplitDataSchema):
    path_column: str = "path"
    max_seconds: float = 10.0
    eval_batch_size: int = 32


@dataclass
class MLflowSchema:
    _target_: str = MISSING
    tracking_uri: str = MISSING
    experiment_name: Optional[str] = None
    run_name: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict)
    log_model: bool = True
    registered_model_name: Optional[str] = "auto"


@dataclass
class NullTrackerSchema:
    _target_: str = MISSING


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
    "sft.tracking.MLflowTracker": MLflowSchema,
    "sft.tracking.LocalTracker": NullTrackerSchema,
}
