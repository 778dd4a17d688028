"""torchmetrics collections per task, with the stable metric names other tools read.

Classification (multiclass, and binary as two classes): acc, precision_macro, recall_macro,
f1_macro, auroc, and f1_<label> per class. Regression: mse, mae, r2.
"""

from __future__ import annotations

import re

import torch
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)


def summary_metrics(task: str, num_classes: int) -> MetricCollection:
    """The scalar metrics logged each validation epoch and at test time."""
    if task == "regression":
        return MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
                                 "r2": R2Score()})
    n = num_classes
    return MetricCollection({
        "acc": MulticlassAccuracy(n, average="micro"),
        "precision_macro": MulticlassPrecision(n, average="macro"),
        "recall_macro": MulticlassRecall(n, average="macro"),
        "f1_macro": MulticlassF1Score(n, average="macro"),
        "auroc": MulticlassAUROC(n, average="macro"),
    })


def per_class_metrics(task: str, num_classes: int) -> MetricCollection | None:
    """Per-class precision, recall, F1 and the confusion matrix (None for regression)."""
    if task == "regression":
        return None
    n = num_classes
    return MetricCollection({
        "precision": MulticlassPrecision(n, average=None),
        "recall": MulticlassRecall(n, average=None),
        "f1": MulticlassF1Score(n, average=None),
        "confusion": MulticlassConfusionMatrix(n),
    })


def predictions(task: str, outputs: torch.Tensor) -> torch.Tensor:
    """What the metrics consume: class probabilities, or the regression value."""
    if task == "regression":
        return outputs.squeeze(-1)
    if task == "binary":
        p = torch.sigmoid(outputs.squeeze(-1))
        return torch.stack([1 - p, p], dim=-1)
    return torch.softmax(outputs, dim=-1)


def metric_key(name: str) -> str:
    """A label name made safe for an MLflow metric key."""
    return re.sub(r"[^A-Za-z0-9_.\- ]+", "_", str(name)).strip() or "_"
