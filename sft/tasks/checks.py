"""Config checks that depend on the task: the loss, loss and data options, and monitored
metrics must fit it. Run when the config is composed (an explicit `data.task`), and again
once the data has settled the task and the labels (sft.training.run.load_data).

Each check raises SFTConfigError with one line naming the key.
"""

from __future__ import annotations

from omegaconf import DictConfig

from sft.config.schema import cfg_choice, loss_tasks, monitor_settings
from sft.errors import SFTConfigError
from sft.tasks import AUTO, family_of, get_task
from sft.tasks.monitors import describe_monitorable, metric_fits, per_class_hint


def check_config(cfg: DictConfig) -> None:
    """The task checks a composed config allows before any data is read: with an explicit
    `data.task` everything `check_task_fit` checks; with `auto`, each monitored metric must
    be logged by one of the tasks the loss can train."""
    name = str(cfg.data.get("task", AUTO))
    if name != AUTO:
        check_task_fit(cfg, get_task(name))
        check_features(cfg, get_task(name))
    elif monitor_settings(cfg):
        candidates = loss_tasks(str(cfg.loss.get("_target_"))) or family_of(AUTO).tasks
        check_monitors(cfg, [get_task(t) for t in candidates])


def check_task_fit(cfg: DictConfig, task, labels: list[str] | None = None) -> None:
    """Refuse a loss, loss option, data option or monitored metric that `task` (a Task or
    its name) cannot use; per-class monitors are checked against `labels` once read."""
    task = get_task(task) if isinstance(task, str) else task
    check_loss_fits(str(cfg.loss.get("_target_")), task, cfg_choice(cfg, "loss"))
    task.check_options(cfg)
    check_monitors(cfg, (task,), labels)


def check_features(cfg: DictConfig, task) -> None:
    """Refuse a feature of sft the task does not declare (`features`): cross-validation and
    seed repeats (`cv`), fold or seed ensembles (`ensemble`), tuned decisions (`decisions`).
    Temperature scaling, on by default, is skipped quietly for a task without it."""
    cv = cfg.get("cv") or {}
    asked = [
        ("cv", "cv.folds", cv.get("folds")),
        ("cv", "seeds", cfg.get("seeds")),
        ("ensemble", "cv.ensemble", cv.get("ensemble")),
        ("decisions", "decisions.tune", (cfg.get("decisions") or {}).get("tune")),
    ]
    for feature, key, value in asked:
        if value and not task.supports(feature):
            raise SFTConfigError(
                f"{key}={value}: task '{task.name}' does not support "
                f"{feature} (it supports: {', '.join(sorted(task.features))})"
            )


def check_loss_fits(loss_target: str, task, loss_name: str) -> None:
    """Refuse a loss that cannot train `task`: the loss declares the tasks it trains
    (`tasks` beside its class) and the task says which of them its loss sees
    (`loss_problem`: a token classifier's loss sees a multiclass problem per token)."""
    task = get_task(task) if isinstance(task, str) else task
    fits = loss_tasks(loss_target)
    if fits is not None and task.loss_problem not in fits:
        raise SFTConfigError(
            f"loss={loss_name} does not fit task '{task.name}' "
            f"(it trains: {', '.join(fits)}); choose another loss or data.task"
        )


def check_monitors(cfg: DictConfig, tasks, labels: list[str] | None = None) -> None:
    """Refuse a monitored metric (`monitor_settings`) that no task of `tasks` logs, with
    the keys that exist. One line: `monitor.metric=val_loss is not logged for task ...`."""
    tasks = [get_task(t) if isinstance(t, str) else t for t in tasks]
    for key, metric in monitor_settings(cfg):
        if any(metric_fits(metric, task, labels) for task in tasks):
            continue
        choices = ", ".join(
            dict.fromkeys(
                part for task in tasks for part in describe_monitorable(task, labels).split(", ")
            )
        )
        raise SFTConfigError(
            f"{key}={metric} is not logged for task "
            f"{' or '.join(repr(t.name) for t in tasks)}"
            f"{per_class_hint(metric, tasks[0], labels)} (choose from: {choices})"
        )
