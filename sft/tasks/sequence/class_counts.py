"""Per-class counts whose cost grows linearly with the number of classes.

torchmetrics' confusion matrices and stat scores count `target * k + pred` with its own
`_bincount`, which under `torch.use_deterministic_algorithms(True)` (sft's default
`trainer.deterministic: true`) falls back to comparing every value with every bin: a
(batch, k^2) temporary (multilabel: (batch * k, 4k)). Measured (torchmetrics 1.9, one CPU
thread, one update of a batch of 64): `MulticlassConfusionMatrix` 1.19 s and +1.0 GiB peak at
1000 classes, 5.3 s and +3.1 GiB at 2000; these counts 0.8 ms and 1.1 ms, no growth.
`MulticlassStatScores(average=None)` takes the same bincount, so torchmetrics has no linear
per-class route under the flag. `Tensor.index_add_` is deterministic on CPU and, under the
flag, on CUDA (PyTorch's list); it costs O(batch) per update and the state O(k).

`ClassCounts` keeps, per class (single-label) or label (multilabel): tp, predicted, support
(sum-reduced across DDP ranks like any torchmetrics state) and the example count.
`ConfusionCells` keeps the (true, predicted) pair of each example (O(rows), int64) and
computes the nonzero cells of the confusion matrix, so the report's matrix costs what the
split holds, not k^2; `dense_confusion` makes the full matrix where it is small.
`ClassAUROC` is the one-vs-rest AUROC of every class from the kept probabilities, as
torchmetrics' `MulticlassAUROC(average=None)` / `MultilabelAUROC(average=None)` compute it
(exact, no thresholds), but for all classes at once by ranks instead of one ROC curve per
class in a Python loop: 10,000 classes x 1000 rows took 15.5 s per evaluation there.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

__all__ = [
    "ClassCounts",
    "ConfusionCells",
    "ClassAUROC",
    "one_vs_rest_auroc",
    "dense_confusion",
    "DENSE_CONFUSION_MAX",
]

# Up to this many classes the report holds the full k x k matrix (8 MB of int64 at 1000, a
# confusion_matrix.csv of 1M cells); above it only the nonzero cells (confusion_cells.csv).
DENSE_CONFUSION_MAX = 1000


class ClassCounts(Metric):
    """Per-class tp, predicted and support counts, and the number of examples.

    `update(preds, target)`: single-label, preds (n, k) probabilities (argmax decides, as
    torchmetrics' multiclass metrics do) and target (n,) class ids; multilabel, preds (n, k)
    probabilities (positive where > `threshold`, as torchmetrics' multilabel metrics) and
    target (n, k) 0/1. `compute()`: (4, k) int64 rows [tp, predicted, support, examples] (the
    example count repeated in each column, so that it travels with the counts, synced)."""

    full_state_update = False

    def __init__(self, num_classes: int, multilabel: bool = False, threshold: float = 0.5):
        super().__init__()
        self.num_classes, self.multilabel, self.threshold = num_classes, multilabel, threshold
        for name in ("tp", "predicted", "support"):
            self.add_state(name, torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch's counts (shapes in the class docstring)."""
        if self.multilabel:
            decided, truth = preds > self.threshold, target.bool()
            self.tp += (decided & truth).sum(dim=0)
            self.predicted += decided.sum(dim=0)
            self.support += truth.sum(dim=0)
        else:
            decided, truth = preds.argmax(dim=1), target.long()
            ones = torch.ones_like(truth)
            self.predicted.index_add_(0, decided, ones)
            self.support.index_add_(0, truth, ones)
            right = decided == truth
            self.tp.index_add_(0, truth[right], ones[right])
        self.total += target.shape[0]

    def compute(self) -> torch.Tensor:
        return torch.stack([self.tp, self.predicted, self.support, self.total.expand_as(self.tp)])


class ConfusionCells(Metric):
    """The nonzero cells of a single-label confusion matrix. `update(preds, target)` as
    `ClassCounts`; `compute()`: (m, 3) int64 rows [true, predicted, count], sorted by true
    then predicted class, m <= min(examples, k^2)."""

    full_state_update = False

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.add_state("codes", [], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Keep `true * k + predicted` of each example of the batch."""
        self.codes.append(target.long() * self.num_classes + preds.argmax(dim=1))

    def compute(self) -> torch.Tensor:
        # a list per update; after a DDP sync, one gathered tensor
        codes = dim_zero_cat(self.codes) if len(self.codes) else torch.zeros(0, dtype=torch.long)
        cells, counts = torch.unique(codes, return_counts=True)  # sorted
        k = self.num_classes
        return torch.stack([cells // k, cells % k, counts], dim=1)


def dense_confusion(cells: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (k, k) int64 matrix (rows = true class) of `ConfusionCells` cells."""
    matrix = torch.zeros(num_classes * num_classes, dtype=torch.long)
    matrix.index_add_(0, cells[:, 0] * num_classes + cells[:, 1], cells[:, 2])
    return matrix.reshape(num_classes, num_classes)


# Columns ranked at once: bounds the (rows, columns) float64/int64 temporaries of
# `one_vs_rest_auroc` to a few tens of MB whatever the class count.
_RANKED_CELLS = 1 << 20


def one_vs_rest_auroc(preds: torch.Tensor, positive) -> torch.Tensor:
    """AUROC (k,) float64 of each column of `preds` (n, k) scoring `positive(columns)` (a
    function of a column slice, giving (n, len) bools), NaN for a column without positives
    or negatives. The Mann-Whitney statistic (Hanley & McNeil 1982): (sum of the positives'
    ranks - P(P + 1) / 2) / (P N), tied scores sharing their mean rank, which equals the
    trapezoidal area under the exact ROC curve that torchmetrics computes (ties count 1/2)."""
    n, k = preds.shape
    out = torch.full((k,), float("nan"), dtype=torch.float64)
    if n == 0:
        return out
    step = max(1, _RANKED_CELLS // n)
    index = torch.arange(n)
    for start in range(0, k, step):
        columns = slice(start, min(start + step, k))
        # one row per class, contiguous: sorting along the last dimension is the fast path
        values, order = _sorted_rows(preds[:, columns].T.contiguous())
        hits = positive(columns).T.gather(1, order)
        fresh = torch.ones_like(values, dtype=torch.bool)  # first of its tie group
        fresh[:, 1:] = values[:, 1:] != values[:, :-1]
        last = torch.ones_like(fresh)  # last of its tie group
        last[:, :-1] = fresh[:, 1:]
        first_at = torch.where(fresh, index, 0).cummax(dim=1).values
        last_at = torch.where(last, index, n).flip(1).cummin(dim=1).values.flip(1)
        ranks = (first_at + last_at).double() / 2 + 1
        p = hits.sum(dim=1).double()
        u = (ranks * hits).sum(dim=1) - p * (p + 1) / 2
        out[columns] = torch.where((p > 0) & (p < n), u / (p * (n - p)), float("nan"))
    return out


def _sorted_rows(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`block.sort(dim=1)`; on CPU by numpy's argsort (SIMD): 0.9 s against torch's 1.8 s
    for 1000 rows of 10,000 float32 on one thread."""
    if block.device.type != "cpu":
        return block.sort(dim=1)
    order = np.argsort(block.numpy(), axis=1)
    return torch.from_numpy(np.take_along_axis(block.numpy(), order, axis=1)), torch.from_numpy(
        order
    )


class ClassAUROC(Metric):
    """One-vs-rest AUROC of each class (single-label) or label (multilabel). `update(preds,
    target)` as `ClassCounts` (keeps both: O(rows x classes), as torchmetrics' exact AUROC
    does); `compute()`: (k,) float64, NaN for a class without positives or negatives."""

    full_state_update = False

    def __init__(self, num_classes: int, multilabel: bool = False):
        super().__init__()
        self.num_classes, self.multilabel = num_classes, multilabel
        self.add_state("preds", [], dist_reduce_fx="cat")
        self.add_state("target", [], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Keep the batch's probabilities (n, k) and targets."""
        self.preds.append(preds.float())
        self.target.append(target.long())

    def compute(self) -> torch.Tensor:
        if not len(self.preds):
            return torch.full((self.num_classes,), float("nan"), dtype=torch.float64)
        preds, target = dim_zero_cat(self.preds), dim_zero_cat(self.target)
        if self.multilabel:
            return one_vs_rest_auroc(preds, lambda columns: target[:, columns].bool())
        classes = torch.arange(self.num_classes)
        return one_vs_rest_auroc(preds, lambda columns: target[:, None] == classes[columns])
