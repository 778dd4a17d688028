"""Per-class metrics linear in classes (issue 29, item 1): the same report as torchmetrics'
confusion matrices gave, O(classes) state, no classes^2 temporary under deterministic
algorithms, and the run's confusion artifacts when the matrix is too large to write whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MultilabelAUROC,
    MultilabelConfusionMatrix,
)

from sft.tasks.sequence.class_counts import DENSE_CONFUSION_MAX, ClassCounts, ConfusionCells
from sft.tasks.sequence.metrics import epoch_values, per_class_metrics, summary_metrics


def reference_report(matrix: torch.Tensor, auroc: torch.Tensor, total: float) -> dict:
    """The report as sft computed it before (from torchmetrics' confusion matrices)."""
    present = matrix["support"] > 0
    tp, support, predicted = matrix["tp"], matrix["support"], matrix["predicted"]
    nan = torch.full_like(tp, float("nan"))
    return {
        "precision": torch.where(present, tp / predicted.clamp(min=1), nan),
        "recall": torch.where(present, tp / support.clamp(min=1), nan),
        "f1": torch.where(present, 2 * tp / (support + predicted).clamp(min=1), nan),
        "auroc": torch.where(present & (support < total), auroc.double(), nan),
        "support": support.long(),
    }


def batches(k: int, rows: int, seed: int, multilabel: bool = False):
    """Random probabilities (rounded to 0.05: ties for the AUROC's ranks) and targets in 3
    batches; targets avoid every third class (absent classes)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for size in (rows // 3, rows // 3, rows - 2 * (rows // 3)):
        if multilabel:
            probs = (torch.rand(size, k, generator=g) * 20).round() / 20
            targets = (torch.rand(size, k, generator=g) < 0.3).long()
            targets[:, ::3] = 0
        else:
            probs = torch.softmax((3 * torch.randn(size, k, generator=g)).round(), dim=1)
            pool = torch.tensor([c for c in range(k) if c % 3 != 1] or [0])
            targets = pool[torch.randint(0, len(pool), (size,), generator=g)]
        out.append((probs, targets))
    return out


@pytest.mark.parametrize("k", [2, 3, 7, 50])
def test_the_multiclass_report_is_the_one_the_confusion_matrix_gave(k):
    data = batches(k, 60, seed=k)
    summary, per_class = summary_metrics("multiclass", k), per_class_metrics("multiclass", k)
    old, old_auroc = MulticlassConfusionMatrix(k), MulticlassAUROC(k, average=None)
    for probs, targets in data:
        summary.update(probs, targets)
        per_class.update(probs, targets)
        old.update(probs, targets)
        old_auroc.update(probs, targets)
    _, report = epoch_values(summary, per_class)
    matrix = old.compute().double()
    expected = reference_report(
        {"tp": matrix.diagonal(), "support": matrix.sum(1), "predicted": matrix.sum(0)},
        old_auroc.compute(),
        float(matrix.sum()),
    )
    for name, value in expected.items():  # torchmetrics' AUROC is float32
        torch.testing.assert_close(report[name], value, equal_nan=True, atol=1e-6, rtol=0)
    assert torch.equal(report["confusion"], old.compute().long())
    assert not report["present"][1 % k] or k == 2  # class 1 absent (k > 2)


@pytest.mark.parametrize("k", [2, 5, 30])
def test_the_multilabel_report_is_the_one_the_label_confusion_gave(k):
    data = batches(k, 45, seed=k, multilabel=True)
    summary, per_class = summary_metrics("multilabel", k), per_class_metrics("multilabel", k)
    old, old_auroc = MultilabelConfusionMatrix(k), MultilabelAUROC(k, average=None)
    for probs, targets in data:
        summary.update(probs, targets)
        per_class.update(probs, targets)
        old.update(probs, targets)
        old_auroc.update(probs, targets)
    _, report = epoch_values(summary, per_class)
    cells = old.compute().double()  # per label [[tn, fp], [fn, tp]]
    expected = reference_report(
        {
            "tp": cells[:, 1, 1],
            "support": cells[:, 1, :].sum(1),
            "predicted": cells[:, :, 1].sum(1),
        },
        old_auroc.compute(),
        float(cells[0].sum()),
    )
    for name, value in expected.items():  # torchmetrics' AUROC is float32
        torch.testing.assert_close(report[name], value, equal_nan=True, atol=1e-6, rtol=0)
    assert not report["present"][0]  # every third label never positive


def test_the_metric_state_grows_with_classes_not_their_square():
    k, rows = 10_000, 8
    summary, per_class = summary_metrics("multiclass", k), per_class_metrics("multiclass", k)
    probs, targets = torch.softmax(torch.randn(rows, k), 1), torch.randint(0, k, (rows,))
    summary.update(probs, targets)
    per_class.update(probs, targets)
    counts, cells = per_class["counts"], per_class["confusion_cells"]
    assert sum(getattr(counts, s).numel() for s in counts._defaults) == 3 * k + 1
    assert sum(c.numel() for c in cells.codes) == rows  # one pair per example
    assert "confusion" not in epoch_values(summary, per_class)[1]


def test_an_update_under_deterministic_algorithms_allocates_no_classes_squared_temporary():
    """torchmetrics' deterministic bincount fallback allocated batch x k^2 (288 MB here)."""
    from torch.profiler import ProfilerActivity, profile

    k, rows = 3000, 4
    probs, targets = torch.softmax(torch.randn(rows, k), 1), torch.randint(0, k, (rows,))
    per_class = per_class_metrics("multiclass", k)
    multilabel = per_class_metrics("multilabel", k)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            per_class.update(probs, targets)
            multilabel.update(probs, (probs > 1 / k).long())
    finally:
        torch.use_deterministic_algorithms(was)
    largest = max(e.cpu_memory_usage for e in prof.events())
    assert 0 < largest <= 16 * rows * k  # a few copies of the batch (float32, int64)


def test_counts_match_a_plain_count_for_several_batches():
    k = 11
    counts, cells = ClassCounts(k), ConfusionCells(k)
    truth, decided = [], []
    for probs, targets in batches(k, 40, seed=3):
        counts.update(probs, targets)
        cells.update(probs, targets)
        truth.append(targets)
        decided.append(probs.argmax(1))
    y, p = torch.cat(truth).numpy(), torch.cat(decided).numpy()
    tp, predicted, support, examples = counts.compute().numpy()
    assert (tp == np.bincount(y[y == p], minlength=k)).all()
    assert (predicted == np.bincount(p, minlength=k)).all()
    assert (support == np.bincount(y, minlength=k)).all() and (examples == 40).all()
    table = cells.compute().numpy()
    assert table[:, 2].sum() == 40 and len(np.unique(table[:, 0] * k + table[:, 1])) == len(table)


def test_a_run_with_more_classes_than_a_dense_matrix_writes_the_nonzero_cells(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from sft.tasks import get_task
    from sft.training.run_outputs import write_reports

    k = DENSE_CONFUSION_MAX + 1
    names = [f"class {i}" for i in range(k)]
    summary, per_class = summary_metrics("multiclass", k), per_class_metrics("multiclass", k)
    probs = torch.full((6, k), 0.1 / k)
    probs[[0, 1, 2, 3, 4, 5], [5, 5, 7, 9, 9, 0]] = 0.9
    targets = torch.tensor([5, 7, 7, 9, 0, 0])
    summary.update(probs, targets)
    per_class.update(probs, targets)
    _, report = epoch_values(summary, per_class)
    module = SimpleNamespace(task=get_task("multiclass"), label_names=names, test_report=report)
    paths = write_reports(module, {}, tmp_path)
    assert not (tmp_path / "confusion_matrix.csv").exists()
    written = pd.read_csv(tmp_path / "confusion_cells.csv")
    assert written.to_dict("records") == [
        {"true": "class 0", "predicted": "class 0", "count": 1},
        {"true": "class 0", "predicted": "class 9", "count": 1},
        {"true": "class 5", "predicted": "class 5", "count": 1},
        {"true": "class 7", "predicted": "class 5", "count": 1},
        {"true": "class 7", "predicted": "class 7", "count": 1},
        {"true": "class 9", "predicted": "class 9", "count": 1},
    ]
    png = tmp_path / "confusion_matrix.png"
    assert png in paths
    with Image.open(png) as image:
        assert image.width * image.height <= 4_000_000


def test_the_most_confused_part_of_the_cells_is_the_dense_matrix_s():
    from sft.tracking.reports import confusion_part, most_confused

    rng = np.random.default_rng(1)
    k = 120
    matrix = np.diag(rng.integers(0, 9, k)) + (rng.random((k, k)) < 0.02) * rng.integers(1, 4)
    matrix[3, 70] = matrix[70, 3] = 30
    true, pred = np.nonzero(matrix)
    cells = np.stack([true, pred, matrix[true, pred]], axis=1)
    shown, part = confusion_part(cells, k, 40)
    assert (shown == most_confused(matrix, 40)).all() and {3, 70} <= set(shown.tolist())
    assert (part == matrix[np.ix_(shown, shown)]).all()


def test_the_ranked_auroc_is_scikit_learn_s_with_ties_and_one_sided_columns():
    from sklearn.metrics import roc_auc_score

    from sft.tasks.sequence.class_counts import one_vs_rest_auroc

    rng = np.random.default_rng(4)
    preds = np.round(rng.random((200, 9)), 1)  # many ties
    truth = rng.random((200, 9)) < 0.3
    truth[:, 0], truth[:, 1] = False, True  # no positive; no negative
    aurocs = one_vs_rest_auroc(torch.tensor(preds), lambda cols: torch.tensor(truth)[:, cols])
    assert torch.isnan(aurocs[:2]).all()
    expected = [roc_auc_score(truth[:, j], preds[:, j]) for j in range(2, 9)]
    np.testing.assert_allclose(aurocs[2:].numpy(), expected, rtol=0, atol=1e-12)


def test_above_the_cap_no_per_class_metric_is_logged_nor_monitorable():
    from sft.config.metric_keys import PER_CLASS_LOGGED_MAX, per_class_metric
    from sft.tasks.monitors import metric_fits, monitorable

    few = [f"c{i}" for i in range(PER_CLASS_LOGGED_MAX)]
    many = [f"c{i}" for i in range(PER_CLASS_LOGGED_MAX + 1)]
    key = per_class_metric("val", "c1")
    assert metric_fits(key, "multiclass", few) and key in monitorable("multiclass", few)
    assert not metric_fits(key, "multiclass", many)
    assert monitorable("multiclass", many) == monitorable("regression", many)[:2] + [
        f"val/{m}" for m in ("acc", "precision_macro", "recall_macro", "f1_macro", "auroc")
    ]
