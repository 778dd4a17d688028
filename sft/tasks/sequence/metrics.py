"""torchmetrics collections per task, with the stable metric names other tools read.

Classification (multiclass, and binary as two classes): acc, precision_macro, recall_macro,
f1_macro, auroc, and the F1 of each class. Multilabel (a sigmoid per label, positive at
`threshold`): f1_micro, f1_macro, precision_macro, recall_macro, hamming (fraction of wrong
label decisions), exact_match (every label right), auroc, and the F1 of each label.
Regression: mse, mae, r2, pearson, spearman. The names are each task's `metrics`
(sft.tasks.sequence.kinds); a test keeps the two in step.

"macro" has one meaning everywhere, the summaries and the per-class report alike: the mean
over the classes present in the split's targets (scikit-learn's `labels=` the present ones;
for AUROC what `roc_auc_score` computes over the classes that have both positives and
negatives). A class absent from a split has no precision, recall, F1 or AUROC there (NaN in
the report, not logged), instead of counting as 0. torchmetrics' `average="macro"` counts a
class that is absent but predicted as 0 (and its AUROC averages in absent classes as 0), and
it has no "present classes only" option, so the macros are computed here from per-class
counts: torchmetrics keeps the states (and syncs them across DDP ranks), this module divides.
"""

from __future__ import annotations

import warnings

import numpy as np
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
    BinaryCalibrationError,
    MulticlassAccuracy,
    MulticlassCalibrationError,
    MultilabelExactMatch,
    MultilabelF1Score,
    MultilabelHammingDistance,
)

from sft.tasks.sequence.class_counts import (
    DENSE_CONFUSION_MAX,
    ClassAUROC,
    ClassCounts,
    ConfusionCells,
    dense_confusion,
)

__all__ = [
    "summary_metrics",
    "per_class_metrics",
    "class_report",
    "macro_values",
    "epoch_values",
    "predictions",
    "expected_calibration_error",
    "ECE_BINS",
]

ECE_BINS = 15


def summary_metrics(task: str, num_classes: int, threshold: float = 0.5) -> MetricCollection:
    """The scalar metrics that do not average over classes (accuracy; multilabel f1_micro,
    hamming, exact_match; every regression metric); the macros come from `per_class_metrics`
    (`epoch_values` joins them under the names of the task's `metrics`)."""
    if task == "regression":
        with warnings.catch_warnings():  # "keeps all predictions": evaluation sets fit in memory
            warnings.filterwarnings("ignore", message=".*SpearmanCorrcoef.*buffer")
            spearman = SpearmanCorrCoef()
        return MetricCollection(
            {
                "mse": MeanSquaredError(),
                "mae": MeanAbsoluteError(),
                "r2": R2Score(),
                "pearson": PearsonCorrCoef(),
                "spearman": spearman,
            }
        )
    n = num_classes
    if task == "multilabel":
        t = threshold
        return MetricCollection(
            {
                "f1_micro": MultilabelF1Score(n, threshold=t, average="micro"),
                "hamming": MultilabelHammingDistance(n, threshold=t, average="micro"),
                "exact_match": MultilabelExactMatch(n, threshold=t),
            }
        )
    return MetricCollection({"acc": MulticlassAccuracy(n, average="micro")})


def per_class_metrics(
    task: str, num_classes: int, threshold: float = 0.5
) -> MetricCollection | None:
    """The per-class states (None for regression): `counts` (sft.tasks.sequence.class_counts:
    tp, predicted, support per class or label; O(classes) state and O(batch) work per update,
    also under deterministic algorithms, where torchmetrics' confusion matrices need a
    classes^2 temporary), the nonzero confusion cells of single-label tasks (`confusion_cells`,
    one pair per example) and the one-vs-rest AUROC of each class (`ClassAUROC`: torchmetrics'
    exact numbers, all classes ranked at once). Precision, recall and F1 follow from the
    counts."""
    if task == "regression":
        return None
    n = num_classes
    if task == "multilabel":
        return MetricCollection(
            {
                "counts": ClassCounts(n, multilabel=True, threshold=threshold),
                "auroc": ClassAUROC(n, multilabel=True),
            }
        )
    return MetricCollection(
        {
            "counts": ClassCounts(n),
            "confusion_cells": ConfusionCells(n),
            "auroc": ClassAUROC(n),
        }
    )


def class_report(computed: dict) -> dict:
    """Per-class precision, recall, F1, support, AUROC (float tensors, NaN where the class
    is absent from the split's targets; AUROC also NaN for a class every example has) and
    `present` (bool), from `per_class_metrics(...).compute()` (`counts` (4, k): tp, predicted,
    support, the split's example count). Single-label reports also hold the `confusion`
    matrix (k, k) when k <= DENSE_CONFUSION_MAX; the `confusion_cells` pass through.

    A present class never predicted has precision 0 (as scikit-learn's zero_division=0)."""
    report = {k: v for k, v in computed.items() if k != "counts"}
    tp, predicted, support, examples = computed["counts"].double()
    total = examples[0] if len(examples) else 0.0
    cells = computed.get("confusion_cells")
    if cells is not None and len(tp) <= DENSE_CONFUSION_MAX:
        report["confusion"] = dense_confusion(cells, len(tp))
    present = support > 0
    nan = torch.full_like(tp, float("nan"))
    report.update(
        precision=torch.where(present, tp / predicted.clamp(min=1), nan),
        recall=torch.where(present, tp / support.clamp(min=1), nan),
        f1=torch.where(present, 2 * tp / (support + predicted).clamp(min=1), nan),
        auroc=torch.where(present & (support < total), computed["auroc"].double(), nan),
        support=support.long(),
        present=present,
    )
    return report


def macro_values(report: dict) -> dict[str, torch.Tensor]:
    """precision_macro, recall_macro, f1_macro and auroc of a `class_report`: the mean over
    the classes present in the split (NaN when none is)."""
    return {
        "precision_macro": report["precision"].nanmean(),
        "recall_macro": report["recall"].nanmean(),
        "f1_macro": report["f1"].nanmean(),
        "auroc": report["auroc"].nanmean(),
    }


def epoch_values(
    summary: MetricCollection, per_class: MetricCollection | None
) -> tuple[dict[str, torch.Tensor], dict]:
    """One evaluation epoch: the summary values by metric name, and the `class_report`
    ({} for regression)."""
    values = dict(summary.compute())
    if per_class is None:
        return values, {}
    with warnings.catch_warnings():  # absent classes: the caller names them once per split
        warnings.filterwarnings("ignore", message=".*(positive|negative) samples")
        computed = {k: v.detach().cpu() for k, v in per_class.compute().items()}
    report = class_report(computed)
    values.update({k: v.float() for k, v in macro_values(report).items()})
    return values, report


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


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, task: str) -> float:
    """ECE (L1, ECE_BINS equal-width bins; Naeini et al. 2015, by torchmetrics) of the
    top-class confidence (single-label, probs (n, k)) or of every label's probability as a
    binary decision (multilabel, (n, k))."""
    p, y = torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(targets).long()
    if task == "multilabel":
        return float(BinaryCalibrationError(n_bins=ECE_BINS)(p.reshape(-1), y.reshape(-1)))
    return float(MulticlassCalibrationError(p.shape[1], n_bins=ECE_BINS)(p, y))
