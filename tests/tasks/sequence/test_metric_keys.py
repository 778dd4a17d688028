"""Numbers you can trust: per-class keys that never collide with each other or with a
summary (issue 14.1), one meaning of "macro" when a split lacks a class (14.2), and a
confusion matrix that stays readable with many classes (14.6)."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import FILLER, SPECIALS, mlflow_runs, toy_frame
from sft.config.metric_keys import label_keys, metric_key, per_class_metric
from sft.tasks import get_task
from sft.tasks.monitors import metric_fits
from sft.tasks.sequence import SEQUENCE
from sft.tasks.sequence.metrics import epoch_values, per_class_metrics, summary_metrics
from sft.train import train_task

METRICS = {task: get_task(task).metrics for task in SEQUENCE.tasks}

# Labels that read alike once made safe, and labels named like every summary and stage name.
CLASHING = ["c++", "c#", "python"]
SUMMARY_NAMED = sorted(
    {m for names in METRICS.values() for m in names}
    | {"loss", "macro", "micro", "weighted", "f1", "per_class"}
)


def test_labels_that_sanitize_alike_get_distinct_stable_keys():
    keys = label_keys(CLASHING)
    assert keys["python"] == "python"  # a safe label is its own key, as before
    assert keys["c++"] != keys["c#"]
    assert keys["c++"].startswith("c_-") and keys["c#"].startswith("c_-")
    assert keys == label_keys(list(reversed(CLASHING)))  # the order does not matter
    assert keys["c++"] == label_keys(["c++", "java"])["c++"]  # nor the other labels
    assert keys["c++"] == metric_key("c++")  # known before the data is read
    # A label spelled like another's hashed key keeps it; the hashed one gets a longer hash.
    clash = label_keys([keys["c++"], "c++"])
    assert clash[keys["c++"]] == keys["c++"] and len(set(clash.values())) == 2
    odd = label_keys([".", "..", "", " a", "a", "é", "e", "x" * 300])
    assert len(set(odd.values())) == len(odd)
    assert all(k.strip(".") and len(k) <= 210 for k in odd.values())


def test_per_class_keys_never_shadow_a_summary():
    keys = label_keys(SUMMARY_NAMED)
    assert len(set(keys.values())) == len(SUMMARY_NAMED)
    per_class = {per_class_metric(s, k) for s in ("val", "test") for k in keys.values()}
    summaries = {
        f"{s}/{m}" for s in ("val", "test") for names in METRICS.values() for m in (*names, "loss")
    }
    assert not per_class & summaries
    assert metric_fits("val/per_class/f1/loss", "multiclass", SUMMARY_NAMED)
    from sft.config.metric_keys import monitor_mode

    assert monitor_mode("val/per_class/f1/loss") == "max"  # an F1, whatever the label's name
    assert monitor_mode("val/loss") == "min"


def keyword_frame(labels: list[str], per_class: int, seed: int) -> pd.DataFrame:
    """Short texts whose label is given away by the keyword `kw<i>` of label i."""
    rng = random.Random(seed)
    rows = [
        {"text": " ".join(rng.sample(FILLER, 4) + [f"kw{i}"]), "label": label}
        for i, label in enumerate(labels)
        for _ in range(per_class)
    ]
    rng.shuffle(rows)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def keyword_bert(tmp_path_factory):
    """The tiny BERT with the keywords kw0..kw19 in its vocab."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("keyword-bert")
    vocab = SPECIALS + FILLER + [f"kw{i}" for i in range(20)]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
    ).save_pretrained(folder)
    return folder


def test_a_run_with_colliding_and_summary_named_labels_logs_every_value_apart(
    make_cfg, keyword_bert, tmp_path
):
    labels = CLASHING + ["macro", "weighted", "acc", "loss", "auroc", "f1_macro"]
    keyword_frame(labels, 12, seed=1).to_csv(tmp_path / "train.csv", index=False)
    keyword_frame(labels, 4, seed=2).to_csv(tmp_path / "test.csv", index=False)
    best = train_task(
        make_cfg(
            f"model.name_or_path={keyword_bert}",
            f"data.train_path={tmp_path}/train.csv",
            f"data.test_path={tmp_path}/test.csv",
            "trainer.max_epochs=3",
            "monitor.metric=val/per_class/f1/loss",
        )
    )
    client, runs = mlflow_runs(tmp_path, "text_csv")
    run = runs[0]
    metrics = run.data.metrics
    keys = label_keys(labels)
    per_class = {name: metrics[per_class_metric("test", keys[name])] for name in labels}
    assert len(per_class) == len(labels)  # every class's F1, none lost
    # The summaries are the summaries: the macro is the mean of the per-class values, the
    # loss a loss (a class named `loss` did not overwrite it), the accuracy the matrix's.
    assert metrics["test/f1_macro"] == pytest.approx(np.mean(list(per_class.values())), abs=1e-6)
    confusion = pd.read_csv(tmp_path / "run" / "confusion_matrix.csv", index_col=0).to_numpy()
    assert metrics["test/acc"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-6)
    history = client.get_metric_history(run.info.run_id, "val/loss")
    assert len(history) == 3 and all(m.value > 0 for m in history)
    report = pd.read_csv(tmp_path / "run" / "per_class_report.csv").set_index("label")
    assert [report.loc[n, "f1"] for n in labels] == pytest.approx(
        [per_class[n] for n in labels], abs=1e-4
    )
    # The monitor read the label `loss`'s F1 and maximized it; best/ holds the same number.
    loss_class = client.get_metric_history(run.info.run_id, "val/per_class/f1/loss")
    assert run.data.tags["sft.monitor_mode"] == "max"
    assert best == pytest.approx(max(m.value for m in loss_class))
    assert metrics["best/val/per_class/f1/loss"] == pytest.approx(best)
    # The label -> key map is an artifact.
    written = json.loads((tmp_path / "run" / "metric_keys.json").read_text())
    assert [(r["label"], r["test"]) for r in written] == [
        (n, per_class_metric("test", keys[n])) for n in sorted(labels)
    ]
    assert "metric_keys.json" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_the_best_checkpoint_reads_the_macro_not_a_class_named_like_it(
    make_cfg, keyword_bert, tmp_path
):
    labels = ["f1_macro", "macro", "precision_macro", "recall_macro"]
    keyword_frame(labels, 10, seed=3).to_csv(tmp_path / "train.csv", index=False)
    best = train_task(
        make_cfg(
            f"model.name_or_path={keyword_bert}",
            f"data.train_path={tmp_path}/train.csv",
            "data.test_path=null",
            "trainer.max_epochs=3",
            "callbacks.early_stopping.patience=1",
        )
    )
    client, runs = mlflow_runs(tmp_path, "text_csv")
    run_id = runs[0].info.run_id

    def history(key):
        return {m.step: m.value for m in client.get_metric_history(run_id, key)}

    macro = history("val/f1_macro")
    per_class = [history(per_class_metric("val", label_keys(labels)[n])) for n in labels]
    for step, value in macro.items():  # each epoch's summary is its classes' mean
        assert value == pytest.approx(np.mean([h[step] for h in per_class]), abs=1e-6)
    assert best == pytest.approx(max(macro.values()))
    assert runs[0].data.metrics["best/val/f1_macro"] == pytest.approx(best)


# -- 14.2: macro over the classes present ---------------------------------------------------


def test_an_absent_class_is_left_out_of_every_macro_as_scikit_learn_does():
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    targets = torch.tensor([0, 0, 0, 2, 2, 2, 2])  # class 1 absent
    probs = torch.tensor(
        [
            [0.5, 0.3, 0.2],
            [0.6, 0.1, 0.3],
            [0.4, 0.35, 0.25],
            [0.2, 0.3, 0.5],
            [0.1, 0.2, 0.7],
            [0.3, 0.3, 0.4],
            [0.35, 0.1, 0.55],
        ]
    )
    summary, per_class = summary_metrics("multiclass", 3), per_class_metrics("multiclass", 3)
    summary.update(probs, targets)
    per_class.update(probs, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchmetrics' own absent-class warning is not shown
        values, report = epoch_values(summary, per_class)
    present, y, predicted = [0, 2], targets.numpy(), probs.argmax(1).numpy()
    binary = np.stack([y == c for c in present], axis=1)
    assert float(values["auroc"]) == pytest.approx(roc_auc_score(binary, probs[:, present]))
    assert float(values["auroc"]) == pytest.approx(1.0)  # torchmetrics' macro: 0.667
    for name, score in (
        ("f1_macro", f1_score),
        ("precision_macro", precision_score),
        ("recall_macro", recall_score),
    ):
        expected = score(y, predicted, labels=present, average="macro", zero_division=0)
        assert float(values[name]) == pytest.approx(expected), name
    assert report["present"].tolist() == [True, False, True]
    assert torch.isnan(report["f1"][1]) and torch.isnan(report["auroc"][1])


def test_multilabel_macros_leave_out_labels_without_positives():
    from sklearn.metrics import f1_score

    targets = torch.tensor([[1, 0, 0], [0, 0, 1], [1, 0, 1]])
    probs = torch.tensor([[0.9, 0.6, 0.1], [0.2, 0.1, 0.8], [0.7, 0.2, 0.3]])
    summary, per_class = summary_metrics("multilabel", 3), per_class_metrics("multilabel", 3)
    summary.update(probs, targets)
    per_class.update(probs, targets)
    values, report = epoch_values(summary, per_class)
    expected = f1_score(
        targets.numpy(),
        (probs > 0.5).int().numpy(),
        labels=[0, 2],
        average="macro",
        zero_division=0,
    )
    assert float(values["f1_macro"]) == pytest.approx(expected)
    assert report["present"].tolist() == [True, False, True]


def test_a_val_split_without_a_class_gets_the_auroc_scikit_learn_gives(make_cfg, tmp_path):
    from sklearn.metrics import roc_auc_score

    import sft

    frame = toy_frame(60, seed=7)
    frame[frame["label"] != "neutral"].to_csv(tmp_path / "val.csv", index=False)
    with pytest.warns(
        UserWarning,
        match=r"the val split has no example of 1 of 3 classes "
        r"\('neutral'\)",
    ):
        train_task(
            make_cfg(
                f"data.val_path={tmp_path}/val.csv",
                f"data.test_path={tmp_path}/val.csv",
                "trainer.max_epochs=8",
            )
        )
    client, runs = mlflow_runs(tmp_path, "text_csv")
    run = runs[0]
    metrics = run.data.metrics
    assert "val/per_class/f1/neutral" not in metrics  # absent, not 0.0
    assert "test/per_class/f1/neutral" not in metrics
    # Test = the best epoch's val split and weights: the same AUROC, which sklearn confirms.
    val = pd.read_csv(tmp_path / "val.csv")
    predictor = sft.load(tmp_path / "run" / "model")
    probs = torch.softmax(torch.as_tensor(predictor.logits(list(val["text"]))), -1).numpy()
    present = [predictor.labels.index(n) for n in ("negative", "positive")]
    binary = np.stack([val["label"] == predictor.labels[c] for c in present], axis=1)
    expected = roc_auc_score(binary, probs[:, present])
    assert expected == pytest.approx(1.0)  # the keyword classes are perfectly separated
    assert metrics["test/auroc"] == pytest.approx(expected, abs=1e-6)
    best_step = max(
        client.get_metric_history(run.info.run_id, "val/f1_macro"), key=lambda m: (m.value, -m.step)
    ).step
    val_auroc = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val/auroc")}
    assert val_auroc[best_step] == pytest.approx(1.0)
    report = pd.read_csv(tmp_path / "run" / "per_class_report.csv").set_index("label")
    assert report.loc["neutral", "support"] == 0 and np.isnan(report.loc["neutral", "f1"])
    assert (
        "| neutral | absent | absent | absent | 0 |"
        in (tmp_path / "run" / "per_class_report.md").read_text()
    )


def test_a_class_with_a_single_example_gets_one_macro_in_mlflow_and_the_report(make_cfg, tmp_path):
    from sklearn.metrics import f1_score

    import sft

    test = toy_frame(40, seed=8)
    neutral = test.index[test["label"] == "neutral"]
    test.drop(neutral[1:]).to_csv(tmp_path / "test.csv", index=False)  # one neutral left
    train_task(make_cfg(f"data.test_path={tmp_path}/test.csv", "trainer.max_epochs=2"))
    _, runs = mlflow_runs(tmp_path, "text_csv")
    metrics = runs[0].data.metrics
    report = pd.read_csv(tmp_path / "run" / "per_class_report.csv").set_index("label")
    assert report.loc["neutral", "support"] == 1
    assert metrics["test/f1_macro"] == pytest.approx(report.loc["macro avg", "f1"], abs=1e-4)
    frame = pd.read_csv(tmp_path / "test.csv")
    predictor = sft.load(tmp_path / "run" / "model")
    predicted = [predictor.labels[i] for i in np.argmax(predictor.logits(list(frame["text"])), 1)]
    assert metrics["test/f1_macro"] == pytest.approx(
        f1_score(
            frame["label"], predicted, labels=predictor.labels, average="macro", zero_division=0
        ),
        abs=1e-6,
    )


# -- 14.6: many classes ---------------------------------------------------------------------


def test_the_confusion_picture_of_300_classes_stays_under_4_mpx_and_the_csv_holds_all(tmp_path):
    from PIL import Image

    from sft.tracking.reports import most_confused, plot_confusion_matrix, write_confusion_csv

    rng = np.random.default_rng(0)
    n = 300
    matrix = np.diag(rng.integers(5, 10, n)) + (rng.random((n, n)) < 0.01)
    matrix[7, 9] = matrix[9, 7] = 50  # the two most confused classes
    names = [f"class {i:03d}" for i in range(n)]
    png = plot_confusion_matrix(matrix, names, tmp_path / "confusion_matrix.png")
    with Image.open(png) as image:
        assert image.width * image.height <= 4_000_000
    written = pd.read_csv(write_confusion_csv(matrix, names, tmp_path / "cm.csv"), index_col=0)
    assert written.shape == (n, n) and list(written.index) == names
    assert (written.to_numpy() == matrix).all()
    assert {7, 9} <= set(most_confused(matrix, 40).tolist())
    small = plot_confusion_matrix(matrix[:3, :3], names[:3], tmp_path / "small.png")
    with Image.open(small) as image:  # few classes: the whole matrix, as before
        assert image.size == (400, 400)
