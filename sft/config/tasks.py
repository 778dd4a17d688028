"""Task types and the metric names each one logs (light: no torch, used at config time).

`sft.model.metrics` builds these metrics with torchmetrics; a test keeps the two in step.
"""

from __future__ import annotations

import re

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
# Tasks that also log f1_<label> per label.
PER_LABEL = ("multiclass", "binary", "multilabel")
# Metrics where lower is better; every other one is maximized.
MINIMIZED = ("loss", "mse", "mae", "hamming")


def default_monitor(task: str) -> tuple[str, str]:
    """The metric that picks the best checkpoint when monitor.metric is auto, and its mode."""
    return ("val/mse", "min") if task == "regression" else ("val/f1_macro", "max")


def monitor_mode(metric: str) -> str:
    """min for losses and errors, max for scores."""
    return "min" if metric.rsplit("/", 1)[-1] in MINIMIZED else "max"


def monitorable(task: str) -> list[str]:
    """The metrics a run of `task` logs that can be monitored."""
    names = ["train/loss", "val/loss", *(f"val/{m}" for m in METRICS[task])]
    return names + (["val/f1_<label>"] if task in PER_LABEL else [])


def metric_fits(metric: str, task: str, labels: list[str] | None = None) -> bool:
    """Whether a run of `task` logs `metric`; per-label F1 is checked against `labels` once
    the data has given them."""
    if metric in monitorable(task):
        return True
    if task not in PER_LABEL or not metric.startswith("val/f1_"):
        return False
    if labels is None:
        return len(metric) > len("val/f1_")
    return metric in {f"val/f1_{metric_key(name)}" for name in labels}


def metric_key(name: str) -> str:
    """A label name made safe for an MLflow metric key."""
    return re.sub(r"[^A-Za-z0-9_.\- ]+", "_", str(name)).strip() or "_"
