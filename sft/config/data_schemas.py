"""Schemas of the data and logger groups (see sft.schema_types, which maps targets to them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from omegaconf import MISSING


class TaskName(Enum):
    auto = "auto"
    multiclass = "multiclass"
    binary = "binary"
    multilabel = "multilabel"
    regression = "regression"


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


