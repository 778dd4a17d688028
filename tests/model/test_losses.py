"""Losses compute what their names say; metric collections log the names each task lists
(sft.tasks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import toy_frame
from sft.data.module import TextDataModule
from sft.model.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    FocalLoss,
    HuberLoss,
    balanced_class_weights,
)
from sft.tasks import get_task
from sft.tasks.monitors import metric_fits
from sft.tasks.sequence import SEQUENCE
from sft.tasks.sequence.metrics import epoch_values, per_class_metrics, summary_metrics

TASKS = SEQUENCE.tasks
METRICS = {task: get_task(task).metrics for task in TASKS}


@pytest.fixture
def logits():
    return torch.randn(12, 4, generator=torch.Generator().manual_seed(0))


def test_focal_with_gamma_zero_is_cross_entropy(logits):
    targets = torch.tensor([0, 1, 2, 3] * 3)
    assert FocalLoss(gamma=0)(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets).item(), rel=1e-6
    )
    weights = [0.5, 2.0, 1.0, 3.0]
    assert FocalLoss(gamma=0, class_weights=weights)(logits, targets).item() == pytest.approx(
        CrossEntropyLoss(class_weights=weights)(logits, targets).item(), rel=1e-6
    )


def test_focal_with_gamma_zero_is_bce_for_binary_and_multilabel(logits):
    binary = torch.tensor([0, 1] * 6)
    assert FocalLoss(gamma=0)(logits[:, :1], binary).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits[:, 0], binary.float()).item(), rel=1e-6
    )
    multi_hot = (torch.rand(12, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    assert FocalLoss(gamma=0)(logits, multi_hot).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, multi_hot).item(), rel=1e-6
    )


def test_focal_down_weights_examples_the_model_gets_right():
    easy, hard = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.5, 0.0]])
    target = torch.tensor([0])
    focal, ce = FocalLoss(gamma=2), CrossEntropyLoss()
    p_easy = torch.softmax(easy, -1)[0, 0].item()
    assert focal(easy, target).item() == pytest.approx((1 - p_easy) ** 2 * ce(easy, target).item())
    assert focal(easy, target) / ce(easy, target) < focal(hard, target) / ce(hard, target)


def test_label_smoothing_penalizes_overconfidence():
    confident = torch.tensor([[20.0, 0.0, 0.0]])
    target = torch.tensor([0])
    assert CrossEntropyLoss()(confident, target).item() < 1e-6
    assert CrossEntropyLoss(label_smoothing=0.1)(confident, target).item() > 0.5


def test_bce_pos_weight_per_label_for_multilabel(logits):
    multi_hot = torch.tensor([[1.0, 0.0, 1.0, 0.0]] * 12)
    weighted = BCEWithLogitsLoss(pos_weight=[1.0, 1.0, 3.0, 1.0])(logits, multi_hot)
    expected = F.binary_cross_entropy_with_logits(
        logits, multi_hot, pos_weight=torch.tensor([1.0, 1.0, 3.0, 1.0])
    )
    assert weighted.item() == pytest.approx(expected.item())
    assert weighted > BCEWithLogitsLoss()(logits, multi_hot)


def test_huber_is_squared_near_and_linear_far():
    loss = HuberLoss(delta=1.0)
    assert loss(torch.tensor([[0.5]]), torch.tensor([0.0])).item() == pytest.approx(0.125)
    assert loss(torch.tensor([[10.0]]), torch.tensor([0.0])).item() == pytest.approx(9.5)


def test_balanced_class_weights_from_the_train_split_are_n_over_k_count(tmp_path):
    frame = toy_frame(90, seed=0)
    frame = frame.drop(frame[frame.label == "neutral"].index[:20])  # 30 / 10 / 30
    frame.to_csv(tmp_path / "train.csv", index=False)
    datamodule = TextDataModule(name="t", train_path=str(tmp_path / "train.csv"), val_fraction=0.2)
    datamodule.load(SEQUENCE)
    counts = datamodule.class_counts()
    assert counts.tolist() == [24, 8, 24]  # stratified: 80% of each class stays in train
    n, k = counts.sum(), len(counts)
    assert balanced_class_weights(counts) == pytest.approx([n / (k * c) for c in counts])
    assert balanced_class_weights(counts) == pytest.approx([56 / 72, 56 / 24, 56 / 72])


def test_metric_collections_log_the_names_tasks_lists():
    for task in TASKS:
        metrics = summary_metrics(task, 3)
        per_class = per_class_metrics(task, 3)
        assert (per_class is None) == (task == "regression")
        width = 1 if task == "regression" else 3
        preds = (
            torch.rand(6, width).squeeze(-1)
            if task == "regression"
            else torch.softmax(torch.randn(6, 3), -1)
            if task != "multilabel"
            else torch.rand(6, 3)
        )
        targets = (
            torch.rand(6)
            if task == "regression"
            else torch.tensor([0, 1, 2, 0, 1, 2])
            if task != "multilabel"
            else torch.randint(0, 2, (6, 3))
        )
        metrics.update(preds, targets)
        if per_class is not None:
            per_class.update(preds, targets)
        values, _ = epoch_values(metrics, per_class)
        assert set(values) == set(METRICS[task]), task
        assert all(metric_fits(f"val/{m}", task) for m in METRICS[task])
    assert not metric_fits("val/mse", "multiclass")
    assert not metric_fits("val/acc", "regression")
    assert metric_fits("val/per_class/f1/neutral", "multiclass", ["negative", "neutral"])
    assert not metric_fits("val/per_class/f1/angry", "multiclass", ["negative", "neutral"])
    assert not metric_fits("val/f1_neutral", "multiclass", ["negative", "neutral"])


def test_multilabel_metrics_use_the_threshold():
    probs = torch.tensor([[0.9, 0.4], [0.6, 0.2]])
    targets = torch.tensor([[1, 1], [0, 0]])
    strict, loose = summary_metrics("multilabel", 2, 0.7), summary_metrics("multilabel", 2, 0.3)
    assert strict(probs, targets)["hamming"].item() == pytest.approx(0.25)  # misses label 1
    assert loose(probs, targets)["hamming"].item() == pytest.approx(0.25)  # wrong on row 2
    assert loose(probs, targets)["exact_match"].item() == pytest.approx(0.5)
    assert np.isclose(strict(probs, targets)["f1_micro"].item(), 2 / 3)
    assert np.isclose(loose(probs, targets)["f1_micro"].item(), 0.8)
