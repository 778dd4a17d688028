"""Cross-validation, seed repeats and fold ensembles (sft.training.cv): the folds, the parent
run's aggregates, the out-of-fold predictions, and the ensemble model."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import mlflow_runs, run_sft
from sft.data.folds import fold_assignment


def test_folds_are_disjoint_stratified_and_cover_the_train_split():
    labels = np.array(["a"] * 30 + ["b"] * 12 + ["c"] * 6)
    assignment = fold_assignment(len(labels), 3, seed=0, labels=labels)
    assert sorted(np.unique(assignment)) == [0, 1, 2]  # every row in exactly one fold
    for fold in range(3):
        held = labels[assignment == fold]
        assert {k: int((held == k).sum()) for k in "abc"} == {"a": 10, "b": 4, "c": 2}


def test_a_group_never_spans_two_folds():
    rng = np.random.default_rng(0)
    groups = np.array([f"drug{i}" for i in rng.integers(0, 15, size=90)])
    labels = np.array(["x", "y", "z"])[rng.integers(0, 3, size=90)]
    for stratified in (labels, None):
        assignment = fold_assignment(90, 3, seed=1, labels=stratified, groups=groups)
        assert (assignment >= 0).all()
        for group in np.unique(groups):
            assert len(np.unique(assignment[groups == group])) == 1, group


@pytest.fixture(scope="module")
def cv_run(tiny_model_dir, toy_data, tmp_path_factory):
    """One 3-fold CV run (1 epoch per fold) with a fold ensemble, through the real config."""
    from hydra import compose, initialize_config_dir

    from conftest import tiny_overrides
    from sft.cli import CONF_DIR
    from sft.training.cv import train_repeats

    out = tmp_path_factory.mktemp("cv")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *tiny_overrides(tiny_model_dir, toy_data, out),
                "trainer.max_epochs=1",
                "cv.folds=3",
                "cv.ensemble=true",
                "decisions.tune=true",
                "logger.registered_model_name=null",
            ],
        )
    returned = train_repeats(cfg)
    client, runs = mlflow_runs(out, "text_csv")
    parent = next(r for r in runs if r.data.tags.get("sft.repeat") == "cv")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return {
        "out": out,
        "returned": returned,
        "parent": parent,
        "children": children,
        "client": client,
    }


def test_cv_parent_has_a_child_per_fold_and_their_mean_and_std(cv_run):
    parent, children = cv_run["parent"], cv_run["children"]
    assert sorted(c.data.tags["sft.child"] for c in children) == ["fold-0", "fold-1", "fold-2"]
    for key in ("test/f1_macro", "test/acc", "best/val/f1_macro"):
        values = np.array([c.data.metrics[key] for c in children])
        assert parent.data.metrics[key] == pytest.approx(values.mean())
        assert parent.data.metrics[key + "_std"] == pytest.approx(values.std(ddof=1))
    # a sweeper gets the CV mean of the monitored metric
    assert cv_run["returned"] == pytest.approx(parent.data.metrics["best/val/f1_macro"])
    assert "val/f1_macro" in parent.data.metrics and "val/f1_macro_std" in parent.data.metrics


def test_the_parent_averages_the_childrens_calibration_and_tuned_metrics(cv_run):
    """Every child logs its ECE, calibrated ECE, temperature and tuned-decision metrics; the
    parent's mean +- std covers them as it does every other val and test metric (the
    child's outcome used to be taken before its post-hoc step, so they were left out)."""
    parent, children = cv_run["parent"], cv_run["children"]
    keys = [
        "val/ece",
        "val/ece_calibrated",
        "test/ece",
        "test/ece_calibrated",
        "decisions/temperature",
        "val/f1_macro_tuned",
        "test/acc_tuned",
        "test/f1_macro_tuned",
    ]
    for key in keys:
        values = np.array([c.data.metrics[key] for c in children])
        assert parent.data.metrics[key] == pytest.approx(values.mean()), key
        assert parent.data.metrics[key + "_std"] == pytest.approx(values.std(ddof=1)), key


def test_oof_predictions_cover_every_train_example_once(cv_run, toy_data):
    table = pd.read_csv(cv_run["out"] / "run" / "oof_predictions.csv")
    train = pd.read_csv(toy_data["train"])
    assert sorted(table["row"]) == list(range(1, len(train) + 1))
    assert list(table["text"]) == list(train["text"])  # sorted by source row
    assert list(table["target"]) == list(train["label"])
    probs = table[[c for c in table.columns if c.startswith("p/")]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert cv_run["parent"].data.metrics["oof/acc"] == pytest.approx(
        float((table["prediction"] == table["target"]).mean())
    )
    artifacts = [a.path for a in cv_run["client"].list_artifacts(cv_run["parent"].info.run_id)]
    assert "oof_predictions.csv" in artifacts


def test_ensemble_probabilities_are_the_mean_of_its_members(cv_run, toy_data):
    import sft

    model_dir = Path(cv_run["parent"].data.tags["sft.model_dir"])
    texts = list(pd.read_csv(toy_data["test"])["text"][:7])
    ensemble = sft.load(model_dir)
    members = [sft.load(p) for p in sorted((model_dir / "members").iterdir())]
    assert len(members) == 3
    labels = ensemble.labels
    expected = np.mean(
        [[[r["probabilities"][k] for k in labels] for r in m.predict(texts)] for m in members],
        axis=0,
    )
    got = ensemble.predict(texts)
    assert np.allclose([[r["probabilities"][k] for k in labels] for r in got], expected)
    # the class biases tuned on the OOF predictions decide, on the log of the mean
    bias = np.asarray(ensemble.spec["class_bias"])
    assert bias.shape == (len(labels),)
    chosen = (np.log(expected) + bias).argmax(axis=1)
    assert [r["label"] for r in got] == [labels[i] for i in chosen]
    # logged on the parent as its model, with its test metrics
    assert "sft.model_uri" in cv_run["parent"].data.tags
    assert 0.0 <= cv_run["parent"].data.metrics["ensemble/test/f1_macro"] <= 1.0


def test_the_parent_reports_what_calibration_and_tuned_decisions_add(cv_run, toy_data):
    """Untuned, uncalibrated and tuned test metrics of the same ensemble, side by side, and
    the saved model's decisions are the tuned ones."""
    import sft

    metrics = cv_run["parent"].data.metrics
    for key in (
        "oof/ece",
        "oof/ece_calibrated",
        "oof/f1_macro_tuned",
        "oof/acc_tuned",
        "ensemble/test/acc_uncalibrated",
        "ensemble/test/f1_macro_tuned",
        "ensemble/test/ece",
        "ensemble/test/ece_uncalibrated",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    test = pd.read_csv(toy_data["test"])
    got = sft.load(Path(cv_run["parent"].data.tags["sft.model_dir"])).predict(list(test["text"]))
    accuracy = np.mean([r["label"] == t for r, t in zip(got, test["label"])])
    assert metrics["ensemble/test/acc_tuned"] == pytest.approx(accuracy)


def test_the_ensembles_registry_entry_describes_the_model_it_serves(cv_run, tmp_path):
    """What registering the parent writes: the version's test metrics are the ensemble's (its
    tuned decisions, which it serves, included), not the folds' mean; the task and data are
    named; and the rerun command it prints works as printed (the parent logs config.yaml, and
    sft-reproduce reruns a CV parent as one)."""
    from sft.tracking.registry import model_description, version_description, version_tags

    parent, metrics = cv_run["parent"], cv_run["parent"].data.metrics
    tags = version_tags(parent)
    for key in ("acc", "acc_tuned", "f1_macro", "f1_macro_tuned"):
        assert tags[f"test/{key}"] == f"{metrics[f'ensemble/test/{key}']:.6g}", key
    assert tags["sft.task"] == "multiclass"
    assert tags["sft.labels"] == "negative, neutral, positive"
    uri = f"sqlite:///{cv_run['out']}/mlflow.db"
    text = version_description(parent, uri)
    assert "?" not in text and "None" not in text
    assert "on data 'text_csv' (task multiclass)" in text and "ensemble of 3" in text
    assert f"test/acc_tuned = {metrics['ensemble/test/acc_tuned']:.4f}" in text
    assert model_description(parent).startswith(
        "multiclass model fine-tuned by sft on data 'text_csv'"
    )
    command = re.search(r"Rerun and compare: `(sft-reproduce [^`]+)`", text).group(1)
    assert command == f"sft-reproduce run_id={parent.info.run_id} tracking_uri={uri}"
    done = run_sft("reproduce", *shlex.split(command)[1:], cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "metrics match." in done.stdout


def test_oof_tuned_biases_recover_a_skewed_model_and_are_cross_fitted():
    """Fold models that under-predict the rare class: the biases fitted on their pooled OOF
    predictions favour it and raise macro F1, and the cross-fitted estimate scores each fold
    with rules fitted on the other folds only."""
    from sft.tasks.sequence.decisions import decide_probabilities, decision_metrics
    from sft.training.oof_decisions import cross_fitted, oof_decisions

    rng = np.random.default_rng(0)
    outcomes = []
    for _ in range(4):
        targets = rng.choice(3, size=120, p=[0.6, 0.3, 0.1])
        logits = rng.normal(0, 1.0, size=(120, 3)) + 2.5 * np.eye(3)[targets]
        logits[:, 2] -= 2.0  # the rare class is pushed down: untuned argmax misses most of it
        outcomes.append(
            {"val_logits": logits, "val_targets": targets, "decision_spec": {"temperature": 1.0}}
        )
    metrics, rules = oof_decisions(outcomes, "multiclass", tune=True, monitor="val/f1_macro")
    assert np.argmax(rules["class_bias"]) == 2
    probs = np.concatenate(
        [np.exp(o["val_logits"]) / np.exp(o["val_logits"]).sum(1, keepdims=True) for o in outcomes]
    )
    targets = np.concatenate([o["val_targets"] for o in outcomes])
    untuned = decision_metrics(probs.argmax(1), targets, "multiclass", 3)["f1_macro"]
    assert metrics["oof/f1_macro_tuned"] > untuned + 0.05
    folds = np.repeat(np.arange(4), 120)
    assert metrics["oof/f1_macro_tuned"] == pytest.approx(
        decision_metrics(
            cross_fitted(probs, targets, folds, "multiclass", "f1_macro"), targets, "multiclass", 3
        )["f1_macro"]
    )
    in_sample = decision_metrics(
        decide_probabilities(probs, "multiclass", rules), targets, "multiclass", 3
    )["f1_macro"]
    assert in_sample >= metrics["oof/f1_macro_tuned"]  # fitted on itself: never lower
    # decisions.tune=false: the same figure to choose by, and no rules saved
    untuned_metrics, no_rules = oof_decisions(
        outcomes, "multiclass", tune=False, monitor="val/f1_macro"
    )
    assert no_rules == {} and untuned_metrics == metrics


def test_the_logged_ensemble_loads_from_its_mlflow_model(cv_run, toy_data):
    import mlflow.pyfunc

    mlflow.set_tracking_uri(f"sqlite:///{cv_run['out']}/mlflow.db")
    model = mlflow.pyfunc.load_model(cv_run["parent"].data.tags["sft.model_uri"])
    texts = list(pd.read_csv(toy_data["test"])["text"][:3])
    out = model.predict(pd.DataFrame({"text": texts}))
    assert len(out) == 3


def test_seed_repeats_aggregate_like_folds(make_cfg, tmp_path):
    from sft.training.cv import train_repeats

    cfg = make_cfg("trainer.max_epochs=1", "seeds=[1,2]", "logger.log_model=false")
    train_repeats(cfg)
    _, runs = mlflow_runs(tmp_path, "text_csv")
    parent = next(r for r in runs if r.data.tags.get("sft.repeat") == "seeds")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.data.tags["seed"] for c in children) == ["1", "2"]
    values = np.array([c.data.metrics["test/f1_macro"] for c in children])
    assert parent.data.metrics["test/f1_macro"] == pytest.approx(values.mean())
    assert parent.data.metrics["test/f1_macro_std"] == pytest.approx(values.std(ddof=1))
    assert not (tmp_path / "run" / "oof_predictions.csv").exists()  # one val split: no OOF


def test_leaderboard_shows_mean_and_std_of_cv_jobs():
    from types import SimpleNamespace

    from sft.tracking.leaderboard import leaderboard, terminal_table

    def run(name, metrics):
        return SimpleNamespace(
            info=SimpleNamespace(run_name=name, run_id=f"id-{name}", status="FINISHED"),
            data=SimpleNamespace(params={}, metrics=metrics, tags={"sft.monitor": "val/acc"}),
        )

    runs = [
        run(
            "lr=1e-4",
            {
                "best/val/acc": 0.8,
                "best/val/acc_std": 0.05,
                "test/acc": 0.7,
                "test/acc_std": 0.012345,
            },
        ),
        run(
            "lr=5e-5",
            {"best/val/acc": 0.9, "best/val/acc_std": 0.02, "test/acc": 0.75, "test/acc_std": 0.01},
        ),
    ]
    text = terminal_table(leaderboard(runs, [], "val/acc", "max"), [], "val/acc")
    assert "| 1 | lr=5e-5 | FINISHED | 0.9000 ± 0.0200 | 0.7500 ± 0.0100 |" in text
    assert "| 2 | lr=1e-4 | FINISHED | 0.8000 ± 0.0500 | 0.7000 ± 0.0123 |" in text


def test_a_sweep_over_cv_runs_nests_sweep_job_fold_and_chooses_on_the_cv_mean(
    tiny_model_dir, toy_data, tmp_path
):
    from conftest import run_sft, tiny_overrides

    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith("paths.run_dir")
    ]
    done = run_sft(
        "train",
        "-m",
        *overrides,
        "trainer.max_epochs=1",
        "cv.folds=2",
        "logger.log_model=false",
        "optimizer.lr=1e-3,3e-3",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = mlflow_runs(tmp_path, "text_csv")
    sweep = next(r for r in runs if r.data.tags.get("sft.sweep") == "true")
    jobs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id]
    assert sorted(j.info.run_name for j in jobs) == ["lr=0.001", "lr=0.003"]
    for job in jobs:
        assert job.data.tags["sft.repeat"] == "cv"
        folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == job.info.run_id]
        assert sorted(f.info.run_name for f in folds) == ["fold-0", "fold-1"]
    # the sweep's best is the best CV mean, and its leaderboard shows mean ± std
    best = max(j.data.metrics["best/val/f1_macro"] for j in jobs)
    assert sweep.data.metrics["best/val/f1_macro"] == pytest.approx(best)
    assert " ± " in done.stdout


def test_an_ensemble_folder_copied_like_sft_export_does_predicts_the_same(
    cv_run, tmp_path, toy_data
):
    import shutil

    import sft
    from sft.inference.parity import parity

    model_dir = Path(cv_run["parent"].data.tags["sft.model_dir"])
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    texts = list(pd.read_csv(toy_data["test"])["text"][:4])
    assert parity(sft.load(model_dir), sft.load(copy), texts) == 0.0


def test_sft_predict_runs_the_registered_ensemble(cv_run, toy_data):
    """The parent's model through `sft-predict` as a user runs it (its models:/ or runs:/ URI)."""
    from conftest import run_sft

    out = cv_run["out"]
    done = run_sft(
        "predict",
        f"model_uri={cv_run['parent'].data.tags['sft.model_uri']}",
        f"tracking_uri=sqlite:///{out}/mlflow.db",
        "progress=false",
        cwd=out,
        stdin="good great drug\nbad awful pill\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len([line for line in done.stdout.splitlines() if line.strip()]) == 2
    # A generating model's keys given to an ensemble: one line, exit 2 (was a TypeError).
    done = run_sft(
        "predict",
        f"model_uri={cv_run['parent'].data.tags['sft.model_uri']}",
        f"tracking_uri=sqlite:///{out}/mlflow.db",
        "progress=false",
        "max_new_tokens=4",
        cwd=out,
        stdin="good great drug\n",
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "max_new_tokens: an ensemble of 'multiclass' models does not generate" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fold_run_keeps_each_group_of_the_group_column_on_one_side(make_cfg, tmp_path):
    """cv.group_column through the real data path: the fold's val split and its train split
    share no group, and stay stratified enough to hold every label."""
    from conftest import toy_frame
    from sft.training.run import load_data

    frame = toy_frame(90, seed=3)
    frame["drugName"] = [f"drug{i % 12}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "grouped.csv", index=False)
    groups = dict(zip(frame["text"], frame["drugName"]))
    for fold in range(3):
        cfg = make_cfg(
            f"data.train_path={tmp_path / 'grouped.csv'}",
            "cv.folds=3",
            f"cv.fold={fold}",
            "cv.group_column=drugName",
            "data.val_fraction=0.0",
        )
        data = load_data(cfg)
        val = {groups[t] for t in data.examples["val"].texts}
        train = {groups[t] for t in data.examples["train"].texts}
        assert val and train and not val & train
        assert len(data.examples["val"]) + len(data.examples["train"]) == 90
        assert set(data.examples["val"].labels) == {"negative", "neutral", "positive"}


def test_a_cv_run_or_its_child_is_run_again_not_resumed(cv_run):
    """`resume=<CV parent>` and `resume=<fold>` failed with unrelated lines, and a fold
    stopped by SIGTERM printed a resume command for itself: both now say that a CV or seed
    run is run again, not resumed, and where its config is."""
    from conftest import run_train_in_process
    from sft.training.checkpointing import ResumableCheckpoint

    out, parent = cv_run["out"], cv_run["parent"]
    child = next(c for c in cv_run["children"] if c.data.tags["sft.child"] == "fold-1")
    run_dir = parent.data.tags["sft.run_dir"]
    again = (
        "a CV or seed run is run again, not resumed: run its sft-train command again (its "
        f"config: {run_dir}/config.yaml); it gets a new run folder"
    )
    where = (f"logger.tracking_uri=sqlite:///{out}/mlflow.db", f"paths.outputs={out}")
    code, stderr = run_train_in_process(f"resume={parent.info.run_id}", *where)
    assert code == 2, stderr
    assert stderr.rstrip().splitlines()[-1] == (
        f"sft-train: error: resume: run {parent.info.run_id} ({parent.info.run_name}) is a cv "
        f"parent run; {again}"
    )
    code, stderr = run_train_in_process(f"resume={child.info.run_id}", *where)
    assert code == 2, stderr
    assert stderr.rstrip().splitlines()[-1] == (
        f"sft-train: error: resume: run {child.info.run_id} ({child.info.run_name}) is the "
        f"child fold-1 of the CV or seed run {parent.info.run_id}; {again}"
    )
    guard = ResumableCheckpoint(str(Path(run_dir) / "fold-1" / "checkpoints"))
    guard.run_id, guard.rerun = child.info.run_id, again  # as a child's run sets them
    assert guard.resume_hint() == f"; {again}" and "resume=" not in guard.resume_hint()


def test_the_fold_ensemble_has_a_model_card_and_its_folder_is_a_link(cv_run):
    """The ensemble's folder had no model card and was a full copy beside the logged one
    (a single run's folder is a link to it): it now has both, as a single run's."""
    import yaml

    from sft.tracking.mlflow_models import logged_copy

    parent, client = cv_run["parent"], cv_run["client"]
    folder = Path(parent.data.tags["sft.run_dir"]) / "model"
    assert folder.is_symlink()
    model_id = client.search_logged_models([parent.info.experiment_id])
    ids = [m.model_id for m in model_id if m.source_run_id == parent.info.run_id]
    assert folder.resolve() == logged_copy(client, ids[0], "model").resolve()
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert "fold-ensemble" in front["tags"] and front["labels"] == [
        "negative",
        "neutral",
        "positive",
    ]
    assert "A fold ensemble of 3 multiclass models" in card
    assert f"MLflow run (the parent): `{parent.info.run_id}`" in card
    for key in ("ensemble/test/acc", "ensemble/test/f1_macro_tuned", "oof/f1_macro_tuned"):
        assert f"| {key} | {parent.data.metrics[key]:.4f} |" in card, key
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id)]
    assert "README.md" in artifacts
