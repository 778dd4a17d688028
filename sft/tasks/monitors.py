"""Which metrics a run of a task logs, so that a monitored name (`monitor.metric`, an early
stopping callback's `monitor`) is checked before training starts.

A task's summary metrics are its `metrics` (`<stage>/<name>`); tasks with `per_class` also
log `<stage>/per_class/f1/<label key>` (sft.config.metric_keys). `task` arguments are Task
objects or registered task names.
"""

from __future__ import annotations

from sft.config.metric_keys import (
    _SHOWN_KEYS,
    _UNSAFE,
    label_keys,
    logs_per_class,
    metric_key,
    per_class_metric,
)


def _task(task):
    from sft.tasks import get_task  # the registry: light

    return get_task(task) if isinstance(task, str) else task


def monitorable(task, labels=None) -> list[str]:
    """The metrics a run of `task` logs that can be monitored: the real per-class keys once
    the data has given the `labels`, a `<label key>` placeholder before."""
    task = _task(task)
    names = ["train/loss", "val/loss", *(f"val/{m}" for m in task.metrics)]
    if not task.per_class:
        return names
    if labels is None:
        return names + [per_class_metric("val", "<label key>")]
    classes = task.class_names(labels)  # labels, or what they name (token tags: entity types)
    if not logs_per_class(len(classes)):  # too many classes: none is logged (metric_keys)
        return names
    return names + [per_class_metric("val", k) for k in label_keys(classes).values()]


def metric_fits(metric: str, task, labels=None) -> bool:
    """Whether a run of `task` logs `metric`; a per-class key is checked against `labels`
    once the data has given them (before: any key a label could have)."""
    task = _task(task)
    prefix = per_class_metric("val", "")
    if task.per_class and metric.startswith(prefix):
        key = metric[len(prefix) :]
        if labels is None:
            return bool(key) and metric_key(key) == key
        classes = task.class_names(labels)
        return logs_per_class(len(classes)) and key in label_keys(classes).values()
    return metric in monitorable(task)


def describe_monitorable(task, labels=None) -> str:
    """`monitorable`, comma-separated, with at most 20 per-class keys (then a count)."""
    names = monitorable(task, labels)
    summaries = [n for n in names if not n.startswith(per_class_metric("val", ""))]
    per_class = names[len(summaries) :]
    shown = summaries + per_class[:_SHOWN_KEYS]
    more = len(per_class) - _SHOWN_KEYS
    return ", ".join(shown) + (f" and {more} more per-class keys" if more > 0 else "")


def per_class_hint(metric: str, task, labels=None) -> str:
    """For a metric that names a label the way keys do not (`val/f1_c++`, the pre-namespace
    form, or `val/per_class/f1/c++`): '; label 'c++' is val/per_class/f1/c_-9b1c3e', else ''."""
    if not _task(task).per_class:
        return ""
    prefix = per_class_metric("val", "")
    for old in (prefix, "val/f1_"):
        if metric.startswith(old) and len(metric) > len(old):
            name = metric[len(old) :]
            if labels is None:
                return (
                    f"; per-class F1 is {prefix}<label key> (label '{name}': "
                    f"{per_class_metric('val', metric_key(name))})"
                )
            keys = label_keys(_task(task).class_names(labels))
            matches = [n for n in keys if name in (n, _UNSAFE.sub("_", n).strip())]
            return (
                "; "
                + ", ".join(f"label '{n}' is {per_class_metric('val', keys[n])}" for n in matches)
                if matches
                else ""
            )
    return ""
