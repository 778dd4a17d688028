"""Structured configs: the keys, types and ranges of each group choice, checked before any
heavy import so that a bad config fails in a second with one line naming the key.

Hydra already refuses an override of a key that does not exist (`optimizer.lrr=1`); this
module catches the rest: wrong types (`optimizer.lr=fast`), values out of range, unknown keys
that arrive through config files. Choices that do not fit the task (`loss=mse` with a
multiclass task) are the task's to judge: sft.tasks.checks.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from sft.config import CONF_DIR
from sft.config.cv_schema import check_cv
from sft.config.delimiters import DELIMITER_CHOICES, DELIMITERS
from sft.config.model_schemas import SCHEMAS
from sft.config.run_schemas import (
    DecisionsSchema,
    ExplainRunSchema,
    MonitorSchema,
    check_calibrate,
    check_explain_baseline,
)
from sft.errors import SFTConfigError, first_line

__all__ = [
    "SCHEMAS",
    "RANGES",
    "validate",
    "monitor_settings",
    "cfg_choice",
    "loss_tasks",
    "implied_task",
]


GROUPS = (
    "model",
    "head",
    "loss",
    "optimizer",
    "scheduler",
    "regularizer",
    "finetune",
    "data",
    "trainer",
    "logger",
    "callbacks",
)
TOP_LEVEL_KEYS = set(GROUPS) | {
    *("seed", "monitor", "paths", "resume", "cv", "seeds", "decisions", "explain")
}

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
    ("data.crop_scale", 0.0, False, 1.0, True),
    ("data.max_seconds", 0.0, False, None, False),
    ("data.size", 0, False, None, False),
    ("head.dropout", 0.0, True, 1.0, False),
    ("loss.label_smoothing", 0.0, True, 1.0, False),
    ("loss.gamma", 0.0, True, None, False),
    ("loss.delta", 0.0, False, None, False),
    ("data.threshold", 0.0, False, 1.0, False),
    ("regularizer.weight", 0.0, True, None, False),
    ("regularizer.l1_weight", 0.0, True, None, False),
    ("regularizer.l2_weight", 0.0, True, None, False),
    ("regularizer.alpha", 0.0, True, None, False),
    ("regularizer.beta", 0.0, True, None, False),
    ("finetune.head_lr_mult", 0.0, False, None, False),
    ("finetune.decay", 0.0, False, 1.0, True),
    ("finetune.k", 0, True, None, False),
    ("finetune.every_n_epochs", 0, False, None, False),
    ("finetune.r", 0, False, None, False),
    ("finetune.alpha", 0.0, False, None, False),
    ("finetune.dropout", 0.0, True, 1.0, False),
    ("finetune.lr_mult", 0.0, False, None, False),
    ("scheduler.warmup", 0.0, True, 1.0, False),
    ("callbacks.resume_checkpoint.every_n_train_steps", 0, True, None, False),
    ("explain.samples", 0, True, None, False),
    ("explain.n_steps", 0, False, None, False),
]


def validate(cfg: DictConfig) -> None:
    """Check a composed train config; raise SFTConfigError naming the first bad key."""
    unknown = sorted(set(cfg.keys()) - TOP_LEVEL_KEYS)
    if unknown:
        raise SFTConfigError(
            f"unknown top-level config key '{unknown[0]}' "
            f"(known: {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool):
        raise SFTConfigError(f"config key 'seed': expected an integer, got {cfg.get('seed')!r}")
    check_schema(cfg.monitor, MonitorSchema, "monitor")
    check_cv(cfg)
    if cfg.get("decisions") is not None:  # absent in configs logged before it existed
        check_schema(cfg.decisions, DecisionsSchema, "decisions")
        check_calibrate(cfg.decisions)
    if cfg.get("explain") is not None:  # absent in configs logged before it existed
        check_schema(cfg.explain, ExplainRunSchema, "explain")
        check_explain_baseline(cfg.explain)
    for group in GROUPS:
        node = cfg.get(group)
        if node is None:
            raise SFTConfigError(f"config group '{group}' is missing")
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        if target in SCHEMAS:
            check_schema(node, SCHEMAS[target], group)
        elif target and group != "trainer":  # the Trainer's keys: sft.training.build
            check_signature(node, str(target), group)
    _check_ranges(cfg)
    delimiter = OmegaConf.select(cfg, "data.delimiter", default=None)
    if delimiter is not None and delimiter != "auto" and delimiter not in DELIMITERS:
        raise SFTConfigError(
            f"config key 'data.delimiter': unknown delimiter {delimiter!r} "
            f"(choices: {DELIMITER_CHOICES})"
        )
    _check_weights(cfg, "class_weights", "'balanced' or a list of non-negative numbers")
    _check_weights(cfg, "pos_weight", "a non-negative number or a list of them, one per label")
    # What depends on the task (the loss, options, monitored metrics fit it):
    # sft.tasks.checks.check_config, which the entry points call next.


def monitor_settings(cfg: DictConfig) -> list[tuple[str, str]]:
    """Every metric the config monitors, as (key, value): `monitor.metric`, then the
    `monitor` of every callback node (`callbacks.early_stopping.monitor`, at any depth),
    interpolations resolved; `auto` and null left out (set_monitor settles `auto`)."""
    found = [("monitor.metric", cfg.monitor.get("metric"))]

    def walk(node, path: str) -> None:
        items = node.items_ex(resolve=False) if OmegaConf.is_dict(node) else enumerate(node)
        for key, child in items:
            if OmegaConf.is_config(child):
                walk(child, f"{path}.{key}")
            elif key == "monitor":
                found.append((f"{path}.{key}", node[key]))

    if OmegaConf.is_config(cfg.get("callbacks")):
        walk(cfg.callbacks, "callbacks")
    return [(key, str(value)) for key, value in found if value is not None and value != "auto"]


def loss_tasks(loss_target: str) -> tuple[str, ...] | None:
    """The tasks the loss class `loss_target` declares it trains (its `tasks` attribute);
    None when it declares none or cannot be imported (instantiating it will say why).

    Imports the loss's module (torch: about 1 s here), which the run imports next anyway; the
    declaration lives beside the class so that a new loss is its class plus its YAML.
    """
    from hydra.utils import get_class  # lazy: Hydra's instantiate machinery, not needed for --help

    try:
        declared = getattr(get_class(loss_target), "tasks", None)
    except Exception:
        return None
    return tuple(declared) if declared else None


def implied_task(loss_target: str) -> str | None:
    """The task an `auto` task becomes with this loss (its `implied_task`: `regression` for
    MSE); None when the labels decide (lists: multilabel, else multiclass or binary)."""
    from hydra.utils import get_class  # lazy: as in loss_tasks

    try:
        return getattr(get_class(loss_target), "implied_task", None)
    except Exception:
        return None


def cfg_choice(cfg: DictConfig, group: str) -> str:
    """The short name of a group's choice (`mse` for sft.model.losses.MSELoss), for messages."""
    try:
        from hydra.core.hydra_config import HydraConfig  # lazy: only inside a Hydra app

        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError, ImportError):  # composed outside a Hydra app (tests, API)
        target = cfg[group].get("_target_")
        return (
            _choice_with_target(group, target, cfg[group])
            or str(target or group).rsplit(".", 1)[-1]
        )


def _choice_with_target(group: str, target, node=None) -> str | None:
    """The shipped choice of `group` whose YAML names `target`; when several do (every model
    config names the Backbone), the one whose values agree with `node` on the most keys (a
    `???` value agrees with anything), the first by file name on a tie."""
    # Raw values (interpolations unresolved): a choice file alone cannot resolve `${paths...}`.
    values = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}
    best, best_score = None, -1
    for path in sorted((Path(CONF_DIR) / group).glob("*.yaml")):
        choice = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if choice.get("_target_") != target:
            continue
        score = sum(
            1
            for key, value in choice.items()
            if value == "???" or (key in values and values[key] == value)
        )
        if score > best_score:
            best, best_score = path.stem, score
    return best


def check_schema(node: DictConfig, schema: type, group: str | None = None) -> None:
    """Check `node` against a dataclass `schema` (types, unknown keys, unset `???` values);
    raise SFTConfigError naming the key, prefixed with `group` when it is a config group."""
    try:
        values = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
        OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        raise SFTConfigError(_describe(group, err, schema)) from None


def check_signature(node: DictConfig, target: str, group: str) -> None:
    """Check the keys of a node whose `_target_` has no schema (a user's own class, a loss
    added without one) against the target's constructor: SFTConfigError naming an unknown key.

    Imports the target (instantiate does so next anyway); one that cannot be imported, or that
    takes **kwargs, is left for instantiate to judge.
    """
    import inspect  # here: only targets without a schema are inspected

    from hydra.utils import get_object  # lazy: only for targets without a schema

    try:
        parameters = inspect.signature(get_object(target)).parameters
    except Exception:
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    known = [name for name in parameters if name != "self"]
    for key in node:
        if not str(key).startswith("_") and key not in known:
            raise SFTConfigError(
                f"unknown config key '{group}.{key}' ({target} takes: "
                f"{', '.join(known) or 'no arguments'})"
            )


def _describe(group: str | None, err: OmegaConfBaseException, schema: type) -> str:
    key = str(getattr(err, "full_key", None) or getattr(err, "key", None) or "")
    full = key if key.startswith(f"{group}.") else ".".join(p for p in (group, key) if p)  # rooted
    first = first_line(err)
    if isinstance(err, ConfigKeyError):
        known = ", ".join(f.name for f in fields(schema) if not f.name.startswith("_"))
        return f"unknown config key '{full}' (keys{f' of {group}' if group else ''}: {known})"
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


def _check_weights(cfg: DictConfig, key: str, expected: str) -> None:
    """loss.class_weights / loss.pos_weight: null, a number or 'balanced' as `expected` says,
    or a list of non-negative numbers."""
    weights = cfg.loss.get(key) if isinstance(cfg.loss, DictConfig) else None
    if weights is None or (weights == "balanced" and key == "class_weights"):
        return

    def number(w) -> bool:
        return isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0

    if (key == "pos_weight" and number(weights)) or (
        OmegaConf.is_list(weights) and all(number(w) for w in weights)
    ):
        return
    raise SFTConfigError(f"config key 'loss.{key}': expected null, {expected}, got {weights!r}")
