"""The token-classification task as generic code sees it: registered, light to import, the
protocol's questions answered (loss inputs, metrics, monitors, refusals)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from conftest import PROJECT_ROOT
from sft.errors import SFTConfigError
from sft.tasks import family_of, get_task
from sft.tasks.base import Family, Task

TAGS = ["O", "B-DRUG", "I-DRUG", "B-PER", "I-PER"]


def test_registered_and_follows_the_protocol():
    task = get_task("token_classification")
    assert isinstance(task, Task) and isinstance(task.family, Family)
    assert family_of("token_classification") is task.family
    assert task.family.settle("token_classification", None) == "token_classification"
    assert task.pooling("mean") == "none" and task.num_outputs(5) == 5
    assert task.class_names(TAGS) == ["DRUG", "PER"]


def test_the_registry_reads_it_without_torch():
    code = (
        "import sys; from sft.tasks import get_task; get_task('token_classification'); "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={"PYTHONPATH": str(PROJECT_ROOT)},
        timeout=120,
    )
    assert done.stdout.strip() == "False", done.stderr[-1000:]


def test_loss_sees_only_labelled_words():
    task = get_task("token_classification")
    outputs = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    targets = torch.tensor([[-100, 1, -100], [-100, 0, 2]])
    logits, kept = task.loss_inputs(outputs, targets)
    assert logits.shape == (3, 5) and kept.tolist() == [1, 0, 2]
    assert torch.equal(logits[0], outputs[0, 1])


def test_epoch_values_report_per_entity_type():
    task = get_task("token_classification")
    summary = task.summary_metrics(len(TAGS), label_names=TAGS)
    per_type = task.per_class_metrics(len(TAGS), label_names=TAGS)
    target = torch.tensor([[-100, 1, 2, 0, -100]])
    preds = torch.tensor([[0, 1, 2, 3, 0]])  # the DRUG found, a PER guessed on an O
    for metric in (summary, per_type):
        metric.update(preds, target)
    values, report = task.epoch_values(summary, per_type)
    assert set(values) == set(task.metrics)
    assert values["f1"].item() == pytest.approx(2 / 3)
    assert report["f1"][0].item() == 1.0 and torch.isnan(report["f1"][1])  # no true PER
    assert report["present"].tolist() == [True, False]
    assert report["support"].tolist() == [1, 0]


def test_monitors_per_entity_type_and_refusals():
    from sft.tasks.checks import check_monitors

    cfg = OmegaConf.create(
        {"monitor": {"metric": "val/per_class/f1/DRUG", "mode": "max"}, "callbacks": {}}
    )
    check_monitors(cfg, ["token_classification"], TAGS)
    cfg.monitor.metric = "val/f1_macro"
    with pytest.raises(
        SFTConfigError,
        match=r"val/f1_macro is not logged for task "
        "'token_classification'.*val/per_class/f1/PER",
    ):
        check_monitors(cfg, ["token_classification"], TAGS)
    from sft.tasks.checks import check_features

    task = get_task("token_classification")
    with pytest.raises(
        SFTConfigError,
        match=r"cv.folds=5: task 'token_classification' does "
        r"not support cv \(it supports: int8, onnx\)",
    ):
        check_features(OmegaConf.create({"cv": {"folds": 5}}), task)
    with pytest.raises(
        SFTConfigError,
        match=r"decisions.tune=True: task 'token_classification' "
        r"does not support decisions",
    ):
        check_features(OmegaConf.create({"cv": {"folds": None}, "decisions": {"tune": True}}), task)
    with pytest.raises(SFTConfigError, match=r"data.standardize=true applies to regression"):
        task.check_options(OmegaConf.create({"data": {"standardize": True}}))


def test_label_counts_count_entities_per_type():
    task = get_task("token_classification")
    counts = task.label_counts([["B-DRUG", "I-DRUG", "O", "B-PER"], ["B-DRUG"], ["O"]])
    assert counts == {"DRUG": 2, "PER": 1}
    assert task.label_counts([["S-X", "B-Y", "E-Y"]]) == {"X": 1, "Y": 1}  # BIOES detected
