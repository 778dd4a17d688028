"""Task types and the metric names each one logs (light: no torch, used at config time).

`sft.model.metrics` builds these metrics with torchmetrics; a test keeps the two in step.

Two namespaces that never meet: the summaries are `<stage>/<name>` (`val/f1_macro`), and the
per-class values are `<stage>/per_class/f1/<label key>` (`val/per_class/f1/positive`), so a
label named like a summary (`macro`, `loss`, `f1_macro`) can never overwrite one. A label's
key is the label itself when MLflow accepts it as part of a key; otherwise its characters
outside A-Z a-z 0-9 _ - . and space become `_` and a short hash of the label is appended
(`c++` -> `c_-<6 hex>`), so labels that read alike (`c++`, `c#`) get distinct keys that
depend on the label alone (the same in every run and data set).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

TASKS = ("multiclass", "binary", "multilabel", "regression")

_CLASSIFICATION = ("acc", "precision_macro", "recall_macro", "f1_macro", "auroc")
# The summary metrics logged as val/<name> each epoch and test/<name> at the end.
METRICS = {
    "multiclass": _CLASSIFICATION,
    "binary": _CLASSIFICATION,
    "multilabel": ("f1_micro", "f1_macro", "precision_macro", "recall_macro", "hamming",
                   "exact_match", "auroc"),
    "regression": ("mse", "mae", "r2", "pearson", "spearman"),
}
# Tasks that also log <stage>/per_class/f1/<label key> per label.
PER_LABEL = ("multiclass", "binary", "multilabel")
PER_CLASS = "per_class/f1"
# Metrics where lower is better; every other one is maximized.
MINIMIZED = ("loss", "mse", "mae", "hamming")
# MLflow keys hold 250 characters; "test/per_class/f1/" takes 18 and a hash suffix 7.
_KEY_CHARS = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]+")
_SHOWN_KEYS = 20  # per-class keys listed in an error; the rest are counted


def default_monitor(task: str) -> tuple[str, str]:
    """The metric that picks the best checkpoint when monitor.metric is auto, and its mode."""
    return ("val/mse", "min") if task == "regression" else ("val/f1_macro", "max")


def monitor_mode(metric: str) -> str:
    """min for losses and errors, max for scores (every per-class F1 is a score, whatever
    its label is called: `val/per_class/f1/loss` is maximized)."""
    return "min" if metric.split("/", 1)[-1] in MINIMIZED else "max"


def per_class_metric(stage: str, key: str) -> str:
    """The MLflow key of one label's F1 in `stage` (val, test): `val/per_class/f1/<key>`."""
    return f"{stage}/{PER_CLASS}/{key}"


def metric_key(name, digits: int = 6) -> str:
    """A label name made safe for an MLflow metric key (see the module's docstring).

    The label itself when it is made of A-Z a-z 0-9 _ - . and spaces (not leading or
    trailing, not only dots: MLflow refuses keys that resolve like paths) and at most 200
    characters; else the safe characters with a `-` and the first `digits` hex digits of
    the label's SHA-256 appended.
    """
    text = str(name)
    key = _UNSAFE.sub("_", text)[:_KEY_CHARS].strip()
    if not key.strip("."):
        key = "_"
    if key == text:
        return key
    return f"{key}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:digits]}"


def label_keys(names) -> dict[str, str]:
    """label -> its per-class key, distinct for every label set: `metric_key` of each label;
    in the (astronomically rare) case that a hashed key equals another label's key, the
    hashed labels in the clash get longer hashes (16, then 64 hex digits). Raises ValueError
    when two labels are the same string."""
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(
            f"duplicate label names: {sorted(n for n, c in Counter(names).items() if c > 1)}"
        )
    keys = {n: metric_key(n) for n in names}
    for digits in (16, 64):
        clash = {k for k, count in Counter(keys.values()).items() if count > 1}
        if not clash:
            break
        keys = {n: metric_key(n, digits) if k in clash and k != n else k for n, k in keys.items()}
    return keys


def monitorable(task: str, labels=None) -> list[str]:
    """The metrics a run of `task` logs that can be monitored: the real per-class keys once
    the data has given the `labels`, a `<label key>` placeholder before."""
    names = ["train/loss", "val/loss", *(f"val/{m}" for m in METRICS[task])]
    if task not in PER_LABEL:
        return names
    if labels is None:
        return names + [per_class_metric("val", "<label key>")]
    return names + [per_class_metric("val", k) for k in label_keys(labels).values()]


def metric_fits(metric: str, task: str, labels=None) -> bool:
    """Whether a run of `task` logs `metric`; a per-class key is checked against `labels`
    once the data has given them (before: any key a label could have)."""
    prefix = per_class_metric("val", "")
    if task in PER_LABEL and metric.startswith(prefix):
        key = metric[len(prefix):]
        if labels is None:
            return bool(key) and metric_key(key) == key
        return key in label_keys(labels).values()
    return metric in monitorable(task)


def describe_monitorable(task: str, labels=None) -> str:
    """`monitorable`, comma-separated, with at most 20 per-class keys (then a count)."""
    names = monitorable(task, labels)
    summaries = [n for n in names if not n.startswith(per_class_metric("val", ""))]
    per_class = names[len(summaries):]
    shown = summaries + per_class[:_SHOWN_KEYS]
    more = len(per_class) - _SHOWN_KEYS
    return ", ".join(shown) + (f" and {more} more per-class keys" if more > 0 else "")


def per_class_hint(metric: str, task: str, labels=None) -> str:
    """For a metric that names a label the way keys do not (`val/f1_c++`, the pre-namespace
    form, or `val/per_class/f1/c++`): '; label 'c++' is val/per_class/f1/c_-9b1c3e', else ''."""
    if task not in PER_LABEL:
        return ""
    prefix = per_class_metric("val", "")
    for old in (prefix, "val/f1_"):
        if metric.startswith(old) and len(metric) > len(old):
            name = metric[len(old):]
            if labels is None:
                return f"; per-class F1 is {prefix}<label key> (label '{name}': " \
                       f"{per_class_metric('val', metric_key(name))})"
            keys = label_keys(labels)
            matches = [n for n in keys if name in (n, _UNSAFE.sub("_", n).strip())]
            return "; " + ", ".join(f"label '{n}' is {per_class_metric('val', keys[n])}"
                                    for n in matches) if matches else ""
    return ""
