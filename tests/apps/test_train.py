"""End to end on a tiny BERT: it learns, and the MLflow run holds what users look for."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safetensors.torch import load_file

from conftest import mlflow_runs, toy_frame
from sft.train import train_task


@pytest.fixture(scope="module")
def trained(tiny_model_dir, toy_data, tmp_path_factory):
    """One real training run of the default config tree on the tiny model and toy data."""
    from hydra import compose, initialize_config_dir

    from conftest import tiny_overrides
    from sft.cli import CONF_DIR

    out = tmp_path_factory.mktemp("trained")
    overrides = tiny_overrides(tiny_model_dir, toy_data, out) + [
        "data.batch_size=16",
        "regularizer=l2",
        "regularizer.weight=1e-5",
        "decisions.tune=true",
    ]  # off by default; this run checks what tuning records
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "text_csv")
    return {"out": out, "best": best, "client": client, "runs": runs}


def test_tiny_bert_learns_the_toy_task(trained):
    run = trained["runs"][0]
    assert run.data.metrics["test/acc"] > 0.9  # chance is 1/3
    assert run.data.metrics["test/f1_macro"] > 0.9
    assert trained["best"] == pytest.approx(
        max(m.value for m in trained["client"].get_metric_history(run.info.run_id, "val/f1_macro"))
    )


def test_mlflow_run_has_params_metrics_tags_and_artifacts(trained):
    client, runs = trained["client"], trained["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["optimizer.lr"] == "0.003"
    assert params["data.batch_size"] == "16"
    assert params["trainer.max_epochs"] == "6"
    assert params["regularizer.weight"] == "1e-05"
    assert params["trainer.precision"] == "32-true"  # the default: the same on every machine
    metrics = run.data.metrics
    for key in [
        "train/loss_step",
        "train/reg_loss_step",
        "val/loss",
        "val/acc",
        "val/f1_macro",
        "test/acc",
        "test/precision_macro",
        "test/recall_macro",
        "test/f1_macro",
        "test/auroc",
        "test/per_class/f1/negative",
        "test/per_class/f1/neutral",
        "test/per_class/f1/positive",
    ]:
        assert key in metrics, key
    history = client.get_metric_history(run.info.run_id, "val/f1_macro")
    assert len(history) == 6  # one value per epoch
    tags = run.data.tags
    assert tags["seed"] == "42"
    assert tags["sft.task"] == "multiclass"
    assert tags["sft.version.torch"]
    assert "sft.git_commit" in tags
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "config.yaml",
        "confusion_matrix.png",
        "confusion_matrix.csv",
        "metric_keys.json",
        "per_class_report.csv",
        "per_class_report.md",
        "test_metrics.json",
    } <= artifacts


def test_training_speed_is_measured_without_validation(trained):
    metrics = trained["runs"][0].data.metrics
    assert 0 < metrics["time/train_s"] < metrics["time/fit_s"]
    # 120 training rows (150 minus the 20% validation split), 6 epochs
    assert round(metrics["perf/train_samples_per_s"] * metrics["time/train_s"]) == 720
    assert metrics["perf/train_tokens_per_s"] > metrics["perf/train_samples_per_s"]
    assert metrics["perf/train_gflops_per_s"] > 0
    # The fastest step outruns the average (which also counts the time between steps).
    assert metrics["perf/train_gflops_per_s_best_step"] >= metrics["perf/train_gflops_per_s"]
    assert metrics["time/first_step_s"] > 0


def test_artifacts_describe_the_test_set(trained):
    run_dir = trained["out"] / "run"
    report = pd.read_csv(run_dir / "per_class_report.csv")
    assert list(report["label"][:3]) == ["negative", "neutral", "positive"]
    assert report["support"][:3].sum() == 60
    assert (run_dir / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["test/acc"] == pytest.approx(trained["runs"][0].data.metrics["test/acc"])


def test_saved_model_carries_label_names(trained):
    from transformers import AutoConfig

    model_dir = trained["out"] / "run" / "model"
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    assert config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert config.label2id == {"negative": 0, "neutral": 1, "positive": 2}
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "multiclass" and spec["pooling"] == "mean"
    # backbone + head as one transformers model (sft.model.hf_native)
    weights = load_file(str(model_dir / "model.safetensors"))
    assert weights["head.1.weight"].shape == (3, 32)


def test_the_trained_models_card_snippet_gives_sfts_probabilities_without_sft(
    trained, toy_data, tmp_path
):
    """Issue 27's bar: the model card's transformers snippet, run in a Python that imports no
    sft, gives sft.load's probabilities on the test texts (tuned decisions aside: the card
    says the pipeline takes the most probable label)."""
    import subprocess
    import sys

    import sft

    model_dir = trained["out"] / "run" / "model"
    card = (model_dir / "README.md").read_text()
    code = card.split("## Use with transformers alone", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0].replace("<this folder>", str(model_dir))
    texts = pd.read_csv(toy_data["test"])["text"].astype(str).tolist()[:8]
    code = code.replace("['some text']", repr(texts))
    code += "import sys\nassert not [m for m in sys.modules if m.split('.')[0] == 'sft']\n"
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    printed = eval(run.stdout.strip().splitlines()[-1])  # the pipeline's records, printed
    want = sft.load(model_dir).predict(texts)
    for records, expected in zip(printed, want):
        got = {r["label"]: r["score"] for r in records}
        assert got == pytest.approx(expected["probabilities"], abs=1e-5)


def test_the_saved_model_holds_no_pickled_weights(trained):
    """Weights leave a run as safetensors: loading them can never run code."""
    model_dir = trained["out"] / "run" / "model"
    files = {p.name for p in model_dir.iterdir()}
    assert {"model.safetensors", "modeling_sft.py"} <= files
    assert not [
        p
        for p in model_dir.rglob("*")
        if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".pickle")
    ]


def test_regression_with_mse(make_cfg, tmp_path):
    frame = toy_frame(120, seed=3)
    frame["label"] = frame["label"].map({"negative": -1.0, "neutral": 0.25, "positive": 1.5})
    train_csv = tmp_path / "reg.csv"
    frame.to_csv(train_csv, index=False)
    cfg = make_cfg(
        "loss=mse",
        f"data.train_path={train_csv}",
        "data.test_fraction=0.2",
        "data.test_path=null",
        "trainer.max_epochs=8",
    )
    best = train_task(cfg)
    client, runs = mlflow_runs(tmp_path, "text_csv")
    metrics = runs[0].data.metrics
    assert runs[0].data.tags["sft.task"] == "regression"
    assert {"val/mse", "test/mse", "test/mae", "test/r2"} <= set(metrics)
    assert metrics["test/r2"] > 0.5
    assert best == pytest.approx(
        min(m.value for m in client.get_metric_history(runs[0].info.run_id, "val/mse"))
    )


def test_run_calibrates_tunes_and_reports_its_data(trained):
    """Temperature and tuned biases are fitted on val, logged beside the untuned metrics,
    saved in the model (sft.load applies them) and the data report is an artifact."""
    import numpy as np

    import sft
    from sft.tasks.sequence.decisions import decide_logits as decide

    run = trained["runs"][0]
    metrics = run.data.metrics
    for key in [
        "val/ece",
        "val/ece_calibrated",
        "test/ece",
        "test/ece_calibrated",
        "decisions/temperature",
        "val/f1_macro_tuned",
        "test/f1_macro_tuned",
        "test/acc_tuned",
    ]:
        assert key in metrics, key
    assert metrics["val/f1_macro_tuned"] >= metrics["val/f1_macro"] - 1e-6
    run_dir = trained["out"] / "run"
    spec = json.loads((run_dir / "model" / "sft_model.json").read_text())
    # The toy validation split is classified without a mistake, so the NLL keeps falling as
    # T -> 0: T is not identified, not applied (usable_temperature), and the run says T = 1.
    assert metrics["val/acc"] == 1.0
    assert "temperature" not in spec and metrics["decisions/temperature"] == 1.0
    assert metrics["val/ece_calibrated"] == pytest.approx(metrics["val/ece"])
    assert len(spec["class_bias"]) == 3
    texts = toy_frame(30, seed=9)["text"].tolist()
    predictor = sft.load(run_dir / "model")
    labels = [r["label"] for r in predictor.predict(texts)]
    chosen = decide(predictor.logits(texts), "multiclass", spec)
    assert labels == [spec["labels"][i] for i in chosen]
    artifacts = {a.path for a in trained["client"].list_artifacts(run.info.run_id)}
    assert {"data_report.json", "data_report.md", "reliability_diagram.png"} <= artifacts
    report = json.loads((run_dir / "data_report.json").read_text())
    assert report["splits"]["test"]["examples"] == 60
    assert sum(report["splits"]["train"]["labels"].values()) == 120
    assert np.isclose(sum(s["examples"] for s in report["splits"].values()), 210)


def test_a_run_stopped_by_max_steps_before_its_first_validation_finishes(make_cfg, tmp_path):
    """`+trainer.max_steps=2`, shorter than an epoch (a quick try of a setup): early stopping
    has no metric before the first validation; it failed the run with a traceback when it
    also checked at the training epoch's end."""
    cfg = make_cfg("+trainer.max_steps=2", "data.batch_size=8")
    train_task(cfg)
    _, runs = mlflow_runs(tmp_path, "text_csv")
    assert runs[0].info.status == "FINISHED"
    assert "test/acc" in runs[0].data.metrics
