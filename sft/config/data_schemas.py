"""Schemas of the data group: keys and types of each data module (sft.config.model_schemas
maps targets to them; the defaults live in conf/data/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
    val_path: str | None = MISSING
    test_path: str | None = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    label_column: str = MISSING
    task: TaskName = MISSING
    label_separator: str = MISSING
    threshold: float = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    num_workers: int = MISSING


@dataclass
class TextDataSchema(SplitDataSchema):
    text_column: str = MISSING
    delimiter: str = MISSING
    standardize: bool = MISSING
    clean_text: bool = MISSING
    group_by_length: bool = MISSING
    num_proc: str = MISSING  # auto | a whole number (sft.data.tokenize.processes)


@dataclass
class HFSplitsSchema:
    """data.splits of data=hf_dataset: our split -> the dataset's split name."""

    train: str = MISSING
    validation: str | None = MISSING
    test: str | None = MISSING


@dataclass
class HFDatasetSchema:
    """data=hf_dataset: `name` is the dataset's configuration, `experiment` names the MLflow
    experiment (the other data modules' `name`)."""

    _target_: str = MISSING
    experiment: str = MISSING
    path: str = MISSING
    name: str | None = MISSING
    splits: HFSplitsSchema = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    text_column: str | None = MISSING
    image_column: str | None = MISSING
    audio_column: str | None = MISSING
    media_dir: str | None = MISSING
    label_column: str = MISSING
    task: TaskName = MISSING
    label_separator: str = MISSING
    threshold: float = MISSING
    standardize: bool = MISSING
    clean_text: bool = MISSING
    hflip: bool = MISSING
    crop_scale: float = MISSING
    normalize: bool = MISSING
    max_seconds: float = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    group_by_length: bool = MISSING
    num_workers: int = MISSING
    num_proc: str = MISSING  # auto | a whole number (sft.data.tokenize.processes)


def experiment_of(data) -> str:
    """The name a data config gives the MLflow experiment (and registered model, run names):
    `data.experiment` where it has one (data=hf_dataset, whose `name` is the dataset's
    configuration), else `data.name`."""
    return str(data.get("experiment") or data.name)


@dataclass
class ImageDataSchema(SplitDataSchema):
    path_column: str = MISSING
    hflip: bool = MISSING
    crop_scale: float = MISSING
    normalize: bool = MISSING
    batch_size: int = MISSING


@dataclass
class DigitsDataSchema:
    _target_: str = MISSING
    name: str = MISSING
    root: str = MISSING
    size: int = MISSING
    digits: list[int] = MISSING
    samples: str = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    task: TaskName = MISSING
    hflip: bool = MISSING
    crop_scale: float = MISSING
    normalize: bool = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    num_workers: int = MISSING


@dataclass
class AudioDataSchema(SplitDataSchema):
    path_column: str = MISSING
    max_seconds: float = MISSING
    eval_batch_size: int = MISSING
