"""Temperature scaling, tuned decisions and the data report: they do what they promise on
toy predictions, every predict path applies what the model's spec carries, and the report
finds planted duplicates and leakage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sft
from helpers.saved_models import TEXTS, build
from sft.data.labels import Examples
from sft.data.report import data_report, leakage_warnings
from sft.errors import SFTConfigError
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model
from sft.tasks import get_task
from sft.tasks.sequence.decisions import decide_logits as decide
from sft.tasks.sequence.decisions import (
    decision_metrics,
    fit_temperature,
    probabilities,
    tune_class_bias,
    tune_thresholds,
)
from sft.tasks.sequence.metrics import expected_calibration_error
from sft.training.calibrate import usable_temperature

# The served records of each task (what sft.inference.predictor returns).
OUTPUTS = {name: get_task(name).records for name in ("multiclass", "binary", "multilabel")}


def calibrated_logits(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true class distribution the targets are drawn from: a
    perfectly calibrated model (k = 1: a binary one, sigmoid)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(n, max(k, 1)))
    if k == 1:
        p = 1 / (1 + np.exp(-logits[:, 0]))
        return logits, (rng.random(n) < p).astype(int)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return logits, np.array([rng.choice(k, p=row) for row in probs])


@pytest.mark.parametrize("task,k", [("multiclass", 4), ("binary", 1)])
def test_temperature_scaling_lowers_ece_of_an_over_confident_model(task, k):
    logits, targets = calibrated_logits(4000, k, seed=0)
    confident = logits * 4.0  # the same decisions, far too sure of them
    temperature = fit_temperature(confident, targets, task)
    assert temperature == pytest.approx(4.0, rel=0.15)
    before = expected_calibration_error(probabilities(confident, task), targets, task)
    after = expected_calibration_error(probabilities(confident, task, temperature), targets, task)
    assert before > 0.1 and after < before / 3
    # Held-out data from the same model: the fitted T calibrates it too.
    fresh, fresh_targets = calibrated_logits(4000, k, seed=1)
    assert (
        expected_calibration_error(probabilities(4 * fresh, task, temperature), fresh_targets, task)
        < 0.05
    )


def skewed(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """3 classes, class 0 common; the logits favour class 0 by +2.5 beyond the evidence, so
    argmax rarely predicts the rare classes."""
    rng = np.random.default_rng(seed)
    targets = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    logits = rng.normal(0, 1, size=(n, 3))
    logits[np.arange(n), targets] += 1.5
    logits[:, 0] += 2.5
    return logits, targets


def test_a_temperature_at_its_bound_is_not_applied(caplog):
    """4 validation examples, all right with wide margins: the NLL keeps falling toward the
    lower bound, and such a T would serve probabilities of ~0 and 1; it is refused, with a
    warning naming the key. A reasonable split keeps its fitted T."""
    logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [4.0, 0.0, 0.0]])
    assert fit_temperature(logits, np.array([0, 1, 2, 0]), "multiclass") < 0.1
    with caplog.at_level("WARNING"):
        assert usable_temperature(logits, np.array([0, 1, 2, 0]), "multiclass") is None
    assert "decisions.calibrate" in caplog.text and "not applied" in caplog.text
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, size=300)
    noisy = rng.normal(0, 1, size=(300, 3)) + 3.0 * np.eye(3)[targets]
    assert usable_temperature(noisy, targets, "multiclass") == pytest.approx(
        fit_temperature(noisy, targets, "multiclass")
    )


def test_tuned_biases_raise_macro_f1_on_a_skewed_set():
    val, val_targets = skewed(600, seed=0)
    bias = tune_class_bias(val, val_targets)
    assert bias[1] - bias[0] > 0.5 and bias[2] - bias[0] > 0.5  # the rare classes gain
    test, test_targets = skewed(2000, seed=1)
    plain = decision_metrics(test.argmax(1), test_targets, "multiclass", 3)["f1_macro"]
    tuned = decision_metrics((test + bias).argmax(1), test_targets, "multiclass", 3)["f1_macro"]
    assert tuned > plain + 0.05


def test_tuned_thresholds_raise_f1_binary_and_multilabel():
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.15).astype(int)  # a rare positive class, scores pushed down
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, 1000) + 2.0 * y - 2.5)))
    t = tune_thresholds(p, y, "binary")
    assert t.shape == (1,) and t[0] < 0.5
    assert (
        decision_metrics((p > t[0]).astype(int), y, "binary", 2)["f1_macro"]
        > decision_metrics((p > 0.5).astype(int), y, "binary", 2)["f1_macro"]
    )
    labels = np.stack([y, 1 - y], axis=1)
    probs = np.stack([p, 1 - p], axis=1)
    ts = tune_thresholds(probs, labels, "multilabel")
    assert ts.shape == (2,) and ts[0] < 0.5
    assert (
        decision_metrics((probs >= ts).astype(int), labels, "multilabel", 2)["f1_macro"]
        > decision_metrics((probs >= 0.5).astype(int), labels, "multilabel", 2)["f1_macro"]
    )


def test_predictor_outputs_apply_temperature_bias_and_thresholds():
    raw = np.array([[2.0, 1.5, -1.0], [0.0, 3.0, 0.5]], dtype=np.float32)
    spec = {"labels": ["a", "b", "c"], "temperature": 2.0, "class_bias": [0.0, 0.0, 5.0]}
    records = OUTPUTS["multiclass"](raw, spec)
    assert [r["label"] for r in records] == ["c", "c"]  # the bias decides
    expected = probabilities(raw, "multiclass", 2.0)
    got = np.array([list(r["probabilities"].values()) for r in records])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert list(decide(raw, "multiclass", spec)) == [2, 2]  # training measures the same rule
    binary = {"labels": ["no", "yes"], "temperature": 0.5, "thresholds": [0.9]}
    out = OUTPUTS["binary"](np.array([[1.0], [2.0]], dtype=np.float32), binary)
    assert [r["label"] for r in out] == ["no", "yes"]  # sigmoid(2) = .88 < .9 < sigmoid(4)
    multi = {"labels": ["x", "y"], "thresholds": [0.2, 0.9]}
    out = OUTPUTS["multilabel"](np.array([[-1.0, 1.0]], dtype=np.float32), multi)
    assert out[0]["labels"] == ["x"]  # .27 >= .2; .73 < .9


def test_sft_load_and_the_served_model_apply_the_saved_decisions(tiny_model_dir, tmp_path):
    """A spec's temperature and biases reach sft.load and the MLflow pyfunc model."""
    import mlflow

    from sft.tracking.mlflow_tracker import MLflowTracker

    module = build(tiny_model_dir, "multiclass")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    plain = save_model(module, tokenizer, module.head_config, 64, tmp_path / "plain")
    raw = sft.load(plain).logits(TEXTS)
    forced = int(raw.mean(axis=0).argmin())  # the class least favoured by the untuned model
    bias = [0.0] * raw.shape[1]
    bias[forced] = float(raw.max() - raw.min()) + 1.0  # enough to win every time
    tuned = save_model(
        module,
        tokenizer,
        module.head_config,
        64,
        tmp_path / "tuned",
        extra={"temperature": 3.0, "class_bias": bias},
    )
    names = module.label_names
    expected = probabilities(raw, "multiclass", 3.0)
    loaded = sft.load(tuned).predict(TEXTS)
    assert [r["label"] for r in loaded] == [names[forced]] * len(TEXTS)
    np.testing.assert_allclose(
        [[r["probabilities"][n] for n in names] for r in loaded], expected, rtol=1e-5
    )
    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db")
    tracker.open("decisions", {})
    try:
        uri = tracker.log_model(tuned, TEXTS)
        served = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"text": TEXTS}))
    finally:
        tracker.close("FINISHED")
    labels = (
        served["label"].tolist()
        if isinstance(served, pd.DataFrame)
        else [r["label"] for r in served]
    )
    assert labels == [names[forced]] * len(TEXTS)


def examples(texts: list[str], labels: list[str], first_row: int = 0) -> Examples:
    return Examples(
        "toy.csv", texts, pd.Series(labels), np.arange(first_row, first_row + len(texts))
    )


def test_data_report_finds_planted_duplicates_and_leakage():
    train = examples(
        ["good", "bad pill", "good", "fine drug", "   ", "bad pill", "ok"],
        ["pos", "neg", "pos", "pos", "neg", "neg", "pos"],
    )
    test = examples(["fine drug", "new text here", "ok"], ["pos", "neg", "pos"], first_row=100)
    report = data_report(
        {"train": train, "test": test},
        get_task("multiclass"),
        token_lengths={"train": [2, 3, 8, 4, 1, 3, 9], "test": [3, 8, 2]},  # before truncation
        max_length=8,
    )
    tr = report["splits"]["train"]
    assert tr["labels"] == {"pos": 4, "neg": 3}
    assert tr["duplicates"] == 2 and sorted(tr["duplicate_rows"]) == [[0, 2], [1, 5]]
    assert tr["empty"] == 1 and tr["near_empty"] == 1  # "   " is empty; "ok" near-empty
    assert tr["truncated_share"] == pytest.approx(1 / 7)  # 9 > 8 was cut; 8 fits whole
    assert report["splits"]["test"]["truncated_share"] == 0.0
    assert tr["tokens"]["p100"] == 9 and tr["chars"]["p0"] == 2
    assert report["splits"]["test"]["duplicates"] == 0
    shared = report["shared_between_splits"]
    assert shared == [{"splits": ["train", "test"], "shared": 2, "rows": [[3, 100], [6, 102]]}]
    lines = leakage_warnings(report)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "2 example(s) of the train split also in the test split" in lines[0]
    clean = data_report(
        {"train": examples(["a b c d"], ["x"]), "test": examples(["e f g h"], ["x"])},
        get_task("multiclass"),
    )
    assert leakage_warnings(clean) == [] and "tokens" not in clean["splits"]["train"]


def test_bad_calibrate_value_is_refused_in_one_line(make_cfg):
    from sft.config.schema import validate

    with pytest.raises(
        SFTConfigError,
        match=r"decisions.calibrate': unknown calibration "
        r"'platt' \(choices: temperature, none\)",
    ):
        validate(make_cfg("decisions.calibrate=platt"))
    with pytest.raises(SFTConfigError, match=r"decisions\.tune"):
        validate(make_cfg("decisions.tune=maybe"))


def test_a_label_that_is_not_the_most_probable_says_which_rule_chose_it():
    """Tuned decisions can return 'positive' beside p(negative) 0.49 > p(positive) 0.30: such
    a record says which rule decided (`decided_by`), with the numbers that reproduce it; a
    model that decides by the most probable label keeps its records as they were."""
    raw = np.array([[1.0, 0.0, 0.5]], dtype=np.float32)
    spec = {"labels": ["negative", "neutral", "positive"], "class_bias": [0.0, 0.0, 1.0]}
    record = OUTPUTS["multiclass"](raw, spec)[0]
    probs = record["probabilities"]
    assert record["label"] == "positive" and max(probs, key=probs.get) == "negative"
    assert record["decided_by"] == (
        "tuned class bias (decisions.tune): the largest log p + bias, "
        "bias negative +0.00, neutral +0.00, positive +1.00"
    )
    assert "decided_by" not in OUTPUTS["multiclass"](raw, {**spec, "class_bias": None})[0]
    binary = {"labels": ["no", "yes"], "thresholds": [0.3]}
    out = OUTPUTS["binary"](np.array([[-0.5]], dtype=np.float32), binary)[0]
    assert out["label"] == "yes" and out["probabilities"]["no"] > out["probabilities"]["yes"]
    assert out["decided_by"] == "tuned threshold (decisions.tune): yes when p(yes) > 0.30"
    assert "decided_by" not in OUTPUTS["binary"](np.array([[-0.5]]), {"labels": ["no", "yes"]})[0]
    multi = {"labels": ["x", "y"], "thresholds": [0.2, 0.9]}
    out = OUTPUTS["multilabel"](np.array([[-1.0, 1.0]], dtype=np.float32), multi)[0]
    rule = "tuned thresholds (decisions.tune): a label when p >= x 0.20, y 0.90"
    assert out["decided_by"] == rule
    # an ensemble's records say it too
    task = get_task("multiclass")
    combined = np.array([[0.49, 0.21, 0.30]])
    ens = task.combined_records(combined, spec["labels"], spec)[0]
    assert ens["label"] == "positive" and ens["decided_by"] == record["decided_by"]


def test_a_temperature_fitted_on_a_tiny_validation_split_is_named_in_a_warning(caplog):
    """A temperature fitted on 5 validation examples was applied without a word (test ECE got
    worse, 0.172 -> 0.207): it is still applied (the user asked for it), with one warning that
    names the count, the minimum and the key."""
    from sft.training.calibrate import MIN_FIT_EXAMPLES

    logits = np.array([[2.0, 0.0, 0.5], [0.0, 1.0, 0.8], [0.3, 0.0, 1.0], [1.0, 0.9, 0.0]])
    logits = np.concatenate([logits, [[0.2, 0.0, 0.1]]])
    targets = np.array([0, 2, 2, 1, 0])
    with caplog.at_level("WARNING"):
        fitted = usable_temperature(logits, targets, "multiclass")
    assert fitted == pytest.approx(fit_temperature(logits, targets, "multiclass"))
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert lines == [
        f"decisions.calibrate: the temperature ({fitted:.3g}) was fitted on only 5 validation "
        f"examples (fewer than {MIN_FIT_EXAMPLES}), so it may make the probabilities worse, "
        "not better; give a larger validation split (data.val_fraction) or set "
        "decisions.calibrate=none"
    ]
    caplog.clear()
    rng = np.random.default_rng(0)
    many = rng.integers(0, 3, size=MIN_FIT_EXAMPLES)
    with caplog.at_level("WARNING"):
        usable_temperature(
            rng.normal(0, 1, size=(len(many), 3)) + np.eye(3)[many], many, "multiclass"
        )
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_post_hoc_metrics_sit_on_the_rows_of_limit_val_and_limit_test_batches():
    """`_tuned` and ECE metrics ignored limit_val_batches / limit_test_batches and sat beside
    metrics computed on other rows. Here each split's first batch is classified right, its
    second wrong: limited to one batch, the tuned accuracy is the first batch's."""
    import torch
    from omegaconf import OmegaConf

    from sft.training.calibrate import post_hoc

    class Outputs(torch.nn.Module):  # a "model" whose outputs are the batch's given logits
        task, label_names, device = get_task("multiclass"), ["a", "b", "c"], "cpu"

        def forward(self, logits):
            return logits

    def batch(right: bool) -> dict:
        targets = torch.tensor([0, 1, 2, 0])
        chosen = targets if right else (targets + 1) % 3
        return {"logits": 3.0 * torch.eye(3)[chosen] + 0.1, "labels": targets}

    loaders = {"val": [batch(True), batch(False)], "test": [batch(True), batch(False)]}
    data = type(
        "Data",
        (),
        {
            "has_split": lambda self, s: True,
            "val_dataloader": lambda self: loaders["val"],
            "test_dataloader": lambda self: loaders["test"],
        },
    )()
    cfg = OmegaConf.create(
        {
            "decisions": {"calibrate": "none", "tune": True},
            "monitor": {"metric": "val/acc"},
            "trainer": {"limit_val_batches": 1, "limit_test_batches": 0.5},
        }
    )
    metrics, _, _ = post_hoc(cfg, Outputs(), data, Path(tempfile.mkdtemp()))
    assert metrics["val/acc_tuned"] == 1.0 and metrics["test/acc_tuned"] == 1.0
    first = probabilities(loaders["test"][0]["logits"].numpy(), "multiclass")
    expected = expected_calibration_error(first, np.array([0, 1, 2, 0]), "multiclass")
    assert metrics["test/ece"] == pytest.approx(expected, abs=1e-6)
    cfg.trainer = {}  # no limits: every batch, as before
    metrics, _, _ = post_hoc(cfg, Outputs(), data, Path(tempfile.mkdtemp()))
    assert metrics["test/acc_tuned"] == 0.5
