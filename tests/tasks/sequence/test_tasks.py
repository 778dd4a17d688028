"""Task types beyond multiclass: multilabel, binary, regression with standardized targets.

Data handling first (no training), then one tiny end-to-end fit per task type that must learn
above chance and log its metrics to MLflow.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from conftest import FILLER, WORDS, mlflow_runs, toy_frame
from sft.data.module import TextDataModule
from sft.errors import SFTDataError
from sft.tasks.sequence import SEQUENCE
from sft.train import train_task

LABELS = sorted(WORDS)  # negative, neutral, positive


def multilabel_frame(n: int, seed: int) -> pd.DataFrame:
    """Texts carrying the keywords of one or two labels; the label column lists them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = sorted(rng.sample(LABELS, rng.choice([1, 2])))
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))]
        for label in labels:
            for _ in range(2):
                words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS[label]))
        rows.append({"text": " ".join(words), "label": labels})
    return pd.DataFrame(rows)


def write_jsonl(frame: pd.DataFrame, path):
    frame.to_json(path, orient="records", lines=True)
    return path


def test_a_column_of_lists_is_multilabel(tmp_path):
    path = write_jsonl(multilabel_frame(40, seed=0), tmp_path / "train.jsonl")
    dm = TextDataModule(name="t", train_path=str(path), val_fraction=0.25)
    labels = dm.load(SEQUENCE)
    assert labels.task == "multilabel" and labels.names == LABELS
    assert labels.num_outputs == 3
    train = dm.targets["train"]
    assert train.shape == (30, 3) and set(np.unique(train)) == {0.0, 1.0}
    first = dm.examples["train"].labels.iloc[0]
    assert [LABELS[i] for i in np.flatnonzero(train[0])] == sorted(first)
    assert dm.class_counts().tolist() == train.sum(axis=0).astype(int).tolist()


def test_separator_joined_labels_are_multilabel_only_when_the_task_says_so(tmp_path):
    frame = multilabel_frame(30, seed=1)
    frame["label"] = frame["label"].map(" ; ".join)
    frame.to_csv(tmp_path / "train.csv", index=False)
    auto = TextDataModule(name="t", train_path=str(tmp_path / "train.csv"), val_fraction=0.5)
    assert auto.load(SEQUENCE).task == "multiclass"  # 'negative ; positive' may be a class name
    explicit = TextDataModule(
        name="t", train_path=str(tmp_path / "train.csv"), task="multilabel", label_separator=";"
    )
    assert explicit.load(SEQUENCE).names == LABELS


def test_a_list_label_under_a_single_label_task_names_the_row(tmp_path):
    path = write_jsonl(multilabel_frame(20, seed=2), tmp_path / "train.jsonl")
    dm = TextDataModule(name="t", train_path=str(path), task="multiclass")
    with pytest.raises(
        SFTDataError,
        match=r"train\.jsonl row 1: column 'label' holds a list of "
        r"labels, which task 'multiclass' cannot use",
    ):
        dm.load(SEQUENCE)


def test_standardization_records_the_train_split_statistics(tmp_path):
    frame = toy_frame(50, seed=3)
    frame["label"] = np.linspace(100.0, 300.0, 50)
    frame.to_csv(tmp_path / "reg.csv", index=False)
    dm = TextDataModule(
        name="t",
        train_path=str(tmp_path / "reg.csv"),
        task="regression",
        standardize=True,
        val_fraction=0.2,
    )
    labels = dm.load(SEQUENCE)
    train = dm.targets["train"].astype(np.float64)
    assert labels.target_mean == pytest.approx(train.mean())
    assert labels.target_std == pytest.approx(train.std())
    assert dm.targets["val"].min() >= 100.0  # targets stay in their units; the model scales
    frame["label"] = 7.0
    frame.to_csv(tmp_path / "flat.csv", index=False)
    flat = TextDataModule(
        name="t", train_path=str(tmp_path / "flat.csv"), task="regression", standardize=True
    )
    with pytest.raises(SFTDataError, match=r"every regression target in column 'label' is 7"):
        flat.load(SEQUENCE)


def fit(make_cfg, tmp_path, *overrides):
    train_task(make_cfg(*overrides))
    client, runs = mlflow_runs(tmp_path, "text_csv")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    spec = json.loads((tmp_path / "run" / "model" / "sft_model.json").read_text())
    return client, runs[0], spec


def test_multilabel_end_to_end(make_cfg, tmp_path):
    train = write_jsonl(multilabel_frame(120, seed=4), tmp_path / "train.jsonl")
    test = write_jsonl(multilabel_frame(40, seed=5), tmp_path / "test.jsonl")
    client, run, spec = fit(
        make_cfg,
        tmp_path,
        "loss=bce",
        f"data.train_path={train}",
        f"data.test_path={test}",
        "data.threshold=0.4",
        "decisions.tune=true",
    )
    metrics = run.data.metrics
    assert run.data.tags["sft.task"] == "multilabel"
    # Chance: predicting every label gives f1_micro 0.67 (half the labels are positive).
    assert metrics["test/f1_micro"] > 0.85 and metrics["test/f1_macro"] > 0.85
    assert metrics["test/hamming"] < 0.15
    for key in (
        "val/f1_micro",
        "val/f1_macro",
        "val/hamming",
        "val/exact_match",
        "test/auroc",
        "test/precision_macro",
        "test/recall_macro",
        *(f"test/per_class/f1/{n}" for n in LABELS),
    ):
        assert key in metrics, key
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "per_class_report.csv" in artifacts and "confusion_matrix.png" not in artifacts
    report = pd.read_csv(tmp_path / "run" / "per_class_report.csv")
    positives = sum(len(labels) for labels in pd.read_json(test, lines=True)["label"])
    assert report["support"][:3].sum() == positives
    assert spec["task"] == "multilabel" and spec["threshold"] == 0.4
    assert spec["labels"] == LABELS and spec["num_outputs"] == 3
    # Calibrated and tuned on val (conf/train.yaml `decisions`): a threshold per label.
    assert spec["temperature"] > 0 and len(spec["thresholds"]) == 3
    assert {"test/ece", "test/ece_calibrated", "test/f1_macro_tuned", "test/f1_micro_tuned"} <= set(
        metrics
    )


def test_regression_with_standardized_targets_end_to_end(make_cfg, tmp_path):
    frame = toy_frame(120, seed=6)
    frame["label"] = frame["label"].map({"negative": 100.0, "neutral": 180.0, "positive": 300.0})
    frame.to_csv(tmp_path / "reg.csv", index=False)
    _client, run, spec = fit(
        make_cfg,
        tmp_path,
        "loss=huber",
        f"data.train_path={tmp_path}/reg.csv",
        "data.test_path=null",
        "data.test_fraction=0.2",
        "data.standardize=true",
    )
    metrics = run.data.metrics
    assert run.data.tags["sft.task"] == "regression"
    # Metrics in the target's units: standardized predictions would give a hugely negative R2.
    assert metrics["test/r2"] > 0.6
    assert metrics["test/pearson"] > 0.8 and metrics["test/spearman"] > 0.8
    assert metrics["test/mae"] < 60  # the classes are 80 and 120 apart
    assert {"val/mse", "val/mae", "val/r2", "val/pearson", "val/spearman"} <= set(metrics)
    assert 150 < spec["target_mean"] < 230 and 70 < spec["target_std"] < 100
    assert spec["threshold"] is None
    assert "temperature" not in spec and "test/ece" not in metrics  # nothing to calibrate


def test_binary_focal_with_gradual_unfreezing_llrd_and_l2sp_end_to_end(make_cfg, tmp_path):
    frame = toy_frame(100, seed=7, labels=("negative", "positive"))
    frame.to_csv(tmp_path / "bin.csv", index=False)
    test = tmp_path / "bin_test.csv"
    toy_frame(40, seed=8, labels=("negative", "positive")).to_csv(test, index=False)
    client, run, spec = fit(
        make_cfg,
        tmp_path,
        "loss=focal",
        "data.task=binary",
        f"data.train_path={tmp_path}/bin.csv",
        f"data.test_path={test}",
        "finetune=gradual_unfreeze",
        "finetune.decay=0.8",
        "regularizer=l2sp",
        "callbacks.early_stopping=null",
        "decisions.tune=true",
    )
    metrics = run.data.metrics
    assert run.data.tags["sft.task"] == "binary" and spec["num_outputs"] == 1
    assert metrics["test/acc"] > 0.8 and metrics["test/f1_macro"] > 0.8
    assert len(spec["thresholds"]) == 1 and 0.05 <= spec["thresholds"][0] <= 0.95
    assert {"test/ece_calibrated", "test/acc_tuned", "test/f1_macro_tuned"} <= set(metrics)
    trainable = [m.value for m in client.get_metric_history(run.info.run_id, "params/trainable")]
    assert trainable[0] == 33  # the head alone: 32 weights + 1 bias
    assert trainable == sorted(trainable) and len(set(trainable)) == 4  # head, +1, +2, +emb
    assert {"train/reg/l2sp", "train/reg/l2_head", "train/reg_loss_epoch"} <= set(metrics)
    assert run.data.params["finetune"] == "gradual_unfreeze"
    assert run.data.params["regularizer"] == "l2sp"
