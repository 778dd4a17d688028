"""torchmetrics collections per task, with the stable metric names other tools read.

Classification (multiclass, and binary as two classes): acc, precision_macro, recall_macro,
f1_macro, auroc, and f1_<label> per class. Multilabel (a sigmoid per label, positive at
`threshold`): f1_micro, f1_macro, precision_macro, recall_macro, hamming (fraction of wrong
label decisions), exact_match (every label right), auroc, and f1_<label> per label.
Regression: mse, mae, r2, pearson, spearman. The names are listed in `sft.config.tasks.METRICS`.
"""

from __future__ import annotations

import warnings

import torch
from torchmetrics import (
    MeanAbsoluteError,
    MeanSquaredError,
    MetricCollection,
    PearsonCorrCoef,
    R2Score,
    SpearmanCorrCoef,
)
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
    MultilabelAUROC,
    MultilabelConfusionMatrix,
    MultilabelExactMatch,
    MultilabelF1Score,
    MultilabelHammingDistance,
    MultilabelPrecision,
    MultilabelRecall,
)

from sft.config.tasks import metric_key

__all__ = ["summary_metrics", "per_class_metrics", "predictions", "metric_key"]


def summary_metrics(task: str, num_classes: int, threshold: float = 0.5) -> MetricCollection:
    """The scalar metrics logged each validation epoch and at test time."""
    if task == "regression":
        with warnings.catch_warnings():  # "keeps all predictions": evaluation sets fit in memory
            warnings.filterwarnings("ignore", message=".*SpearmanCorrcoef.*buffer")
            spearman = SpearmanCorrCoef()
        return MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
                                 "r2": R2Score(), "pearson": PearsonCorrCoef(),
                                 "spearman": spearman})
    n = num_classes
    if task == "multilabel":
        t = threshold
        return MetricCollection({
            "f1_micro": MultilabelF1Score(n, threshold=t, average="micro"),
            "f1_macro": MultilabelF1Score(n, threshold=t, average="macro"),
            "precision_macro": MultilabelPrecision(n, threshold=t, average="macro"),
            "recall_macro": MultilabelRecall(n, threshold=t, average="macro"),
            "hamming": MultilabelHammingDistance(n, threshold=t, average="micro"),
            "exact_match": MultilabelExactMatch(n, threshold=t),
            "auroc": MultilabelAUROC(n, average="macro"),
        })
    return MetricCollection({
        "acc": MulticlassAccuracy(n, average="micro"),
        "precision_macro": MulticlassPrecision(n, average="macro"),
        "recall_macro": MulticlassRecall(n, average="macro"),
        "f1_macro": MulticlassF1Score(n, average="macro"),
        "auroc": MulticlassAUROC(n, average="macro"),
    })


def per_class_metrics(task: str, num_classes: int,
                      threshold: float = 0.5) -> MetricCollection | None:
    """Per-class precision, recall, F1 and the confusion matrix (None for regression).

    Multilabel has one 2x2 matrix per label (`label_confusion`) instead of one matrix.
    """
    if task == "regression":
        return None
    n = num_classes
    if task == "multilabel":
        t = threshold
        return MetricCollection({
            "precision": MultilabelPrecision(n, threshold=t, average=None),
            "recall": MultilabelRecall(n, threshold=t, average=None),
            "f1": MultilabelF1Score(n, threshold=t, average=None),
            "label_confusion": MultilabelConfusionMatrix(n, threshold=t),
        })
    return MetricCollection({
        "precision": MulticlassPrecision(n, average=None),
        "recall": MulticlassRecall(n, average=None),
        "f1": MulticlassF1Score(n, average=None),
        "confusion": MulticlassConfusionMatrix(n),
    })


def predictions(task: str, outputs: torch.Tensor) -> torch.Tensor:
    """What the metrics consume: class or label probabilities, or the regression value."""
    if task == "regression":
        return outputs.squeeze(-1)
    if task == "multilabel":
        return torch.sigmoid(outputs)
    if task == "binary":
        p = torch.sigmoid(outputs.squeeze(-1))
        return torch.stack([1 - p, p], dim=-1)
    return torch.softmax(outputs, dim=-1)
