"""Structured configs: the keys, types and ranges of each group choice, checked before any
heavy import so that a bad config fails in a second with one line naming the key.

Hydra already refuses an override of a key that does not exist (`optimizer.lrr=1`); this
module catches the rest: wrong types (`optimizer.lr=fast`), values out of range, unknown keys
that arrive through config files, and choices that do not fit together (`loss=mse` with a
multiclass task).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from sft.errors import SFTConfigError

TASKS = ("multiclass", "binary", "regression")


class Pooling(Enum):
    mean = "mean"
    cls = "cls"
    pooler = "pooler"


class Activation(Enum):
    relu = "relu"
    gelu = "gelu"
    tanh = "tanh"
    silu = "silu"


class Scope(Enum):
    head = "head"
    backbone = "backbone"
    all = "all"


class ScheduleName(Enum):
    linear = "linear"
    cosine = "cosine"
    constant = "constant"


class TaskName(Enum):
    auto = "auto"
    multiclass = "multiclass"
    binary = "binary"
    regression = "regression"


@dataclass
class BackboneSchema:
    _target_: str = MISSING
    name_or_path: str = MISSING
    pooling: Pooling = Pooling.mean
    max_length: int = 256
    trust_remote_code: bool = False


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
class BCESchema:
    _target_: str = MISSING
    pos_weight: Optional[float] = None


@dataclass
class MSESchema:
    _target_: str = MISSING


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
class FullFineTuneSchema:
    _target_: str = MISSING
    head_lr_mult: float = 1.0


@dataclass
class TextDataSchema:
    _target_: str = MISSING
    name: str = MISSING
    train_path: str = MISSING
    val_path: Optional[str] = None
    test_path: Optional[str] = None
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    text_column: str = "text"
    label_column: str = "label"
    task: TaskName = TaskName.auto
    clean_text: bool = False
    batch_size: int = 16
    eval_batch_size: int = 64
    group_by_length: bool = True
    num_workers: int = 0


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
    "sft.model.losses.BCEWithLogitsLoss": BCESchema,
    "sft.model.losses.MSELoss": MSESchema,
    "torch.optim.AdamW": AdamSchema,
    "torch.optim.Adam": AdamSchema,
    "torch.optim.SGD": SGDSchema,
    "sft.model.optim.warmup_schedule": SchedulerSchema,
    "sft.model.regularizers.L1Penalty": PenaltySchema,
    "sft.model.regularizers.L2Penalty": PenaltySchema,
    "sft.model.finetune.FullFineTune": FullFineTuneSchema,
    "sft.data.TextDataModule": TextDataSchema,
    "sft.tracking.MLflowTracker": MLflowSchema,
    "sft.tracking.LocalTracker": NullTrackerSchema,
}

# The tasks each loss can train. Checked at config time when the task is explicit, and again
# once the data has decided an `auto` task.
LOSS_TASKS: Dict[str, tuple] = {
    "sft.model.losses.CrossEntropyLoss": ("multiclass",),
    "sft.model.losses.BCEWithLogitsLoss": ("binary",),
    "sft.model.losses.MSELoss": ("regression",),
}

GROUPS = ("model", "head", "loss", "optimizer", "scheduler", "regularizer", "finetune", "data",
          "trainer", "logger", "callbacks")
TOP_LEVEL_KEYS = set(GROUPS) | {"seed", "monitor", "paths"}

# (key, lower bound, inclusive?, upper bound, inclusive?): the ranges that make sense.
RANGES = [
    ("optimizer.lr", 0.0, False, None, False),
    ("optimizer.weight_decay", 0.0, True, None, False),
    ("optimizer.momentum", 0.0, True, 1.0, False),
    ("data.batch_size", 0, False, None, False),
    ("data.eval_batch_size", 0, False, None, False),
    ("data.val_fraction", 0.0, False, 1.0, False),
    ("data.test_fraction", 0.0, True, 1.0, False),
    ("data.num_workers", 0, True, None, False),
    ("trainer.max_epochs", 0, False, None, False),
    ("trainer.accumulate_grad_batches", 0, False, None, False),
    ("model.max_length", 0, False, None, False),
    ("head.dropout", 0.0, True, 1.0, False),
    ("loss.label_smoothing", 0.0, True, 1.0, False),
    ("regularizer.weight", 0.0, True, None, False),
    ("finetune.head_lr_mult", 0.0, False, None, False),
    ("scheduler.warmup", 0.0, True, 1.0, False),
]


def validate(cfg: DictConfig) -> None:
    """Check a composed train config; raise SFTConfigError naming the first bad key."""
    unknown = sorted(set(cfg.keys()) - TOP_LEVEL_KEYS)
    if unknown:
        raise SFTConfigError(f"unknown top-level config key '{unknown[0]}' "
                             f"(known: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool):
        raise SFTConfigError(f"config key 'seed': expected an integer, got {cfg.get('seed')!r}")
    _check_schema("monitor", cfg.monitor, MonitorSchema)
    for group in GROUPS:
        node = cfg.get(group)
        if node is None:
            raise SFTConfigError(f"config group '{group}' is missing")
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        if target in SCHEMAS:
            _check_schema(group, node, SCHEMAS[target])
    _check_ranges(cfg)
    _check_class_weights(cfg)
    task = str(cfg.data.get("task", "auto"))
    if task != "auto":
        check_loss_fits(str(cfg.loss.get("_target_")), task, cfg_choice(cfg, "loss"))


def check_loss_fits(loss_target: str, task: str, loss_name: str) -> None:
    """Refuse a loss that cannot train `task`."""
    fits = LOSS_TASKS.get(loss_target)
    if fits is not None and task not in fits:
        raise SFTConfigError(f"loss={loss_name} does not fit task '{task}' "
                             f"(it trains: {', '.join(fits)}); choose another loss or data.task")


def cfg_choice(cfg: DictConfig, group: str) -> str:
    """The short name of a group's choice (`mse` for sft.model.losses.MSELoss), for messages."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError, ImportError):  # composed outside a Hydra app (tests, API)
        target = cfg[group].get("_target_")
        return _choice_with_target(group, target) or str(target or group).rsplit(".", 1)[-1]


def _choice_with_target(group: str, target) -> str | None:
    """The shipped choice of `group` whose YAML names `target` (the first, by file name)."""
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parent.parent / "conf" / group).glob("*.yaml")):
        if OmegaConf.load(path).get("_target_") == target:
            return path.stem
    return None


def _check_schema(group: str, node: DictConfig, schema: type) -> None:
    try:
        values = OmegaConf.to_container(node, resolve=True)
        OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        raise SFTConfigError(_describe(group, err, schema)) from None


def _describe(group: str, err: OmegaConfBaseException, schema: type) -> str:
    key = getattr(err, "full_key", None) or getattr(err, "key", None) or ""
    full = f"{group}.{key}" if key else group
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, ConfigKeyError):
        known = [f.name for f in fields(schema) if not f.name.startswith("_")]
        return f"unknown config key '{full}' (keys of {group}: {', '.join(known)})"
    if "Missing mandatory value" in first:
        return f"config key '{full}' must be set"
    return f"config key '{full}': {first}"


def _check_ranges(cfg: DictConfig) -> None:
    for key, low, low_ok, high, high_ok in RANGES:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SFTConfigError(f"config key '{key}': expected a number, got {value!r}")
        if key == "trainer.max_epochs" and value == -1:
            continue  # Lightning's "no limit"
        if low is not None and (value < low or (value == low and not low_ok)):
            relation = ">=" if low_ok else ">"
            raise SFTConfigError(f"config key '{key}' must be {relation} {low}, got {value}")
        if high is not None and (value > high or (value == high and not high_ok)):
            relation = "<=" if high_ok else "<"
            raise SFTConfigError(f"config key '{key}' must be {relation} {high}, got {value}")


def _check_class_weights(cfg: DictConfig) -> None:
    weights = cfg.loss.get("class_weights") if isinstance(cfg.loss, DictConfig) else None
    if weights is None or weights == "balanced":
        return
    if OmegaConf.is_list(weights) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights
    ):
        return
    raise SFTConfigError(f"config key 'loss.class_weights': expected null, 'balanced' or a list "
                         f"of non-negative numbers, got {weights!r}")
