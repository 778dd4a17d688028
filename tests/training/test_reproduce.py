"""Same config and seed, same metrics to the last digit; `sft-reproduce` proves it."""

from __future__ import annotations

import logging
import shutil

from omegaconf import OmegaConf

from conftest import mlflow_runs, run_sft, tiny_overrides
from sft.train import train_task

COMPARED = (
    "val/f1_macro",
    "val/loss",
    "test/acc",
    "test/f1_macro",
    "test/loss",
    "train/loss_epoch",
)


def test_same_seed_same_metrics_other_seed_other_metrics(make_cfg, tiny_model_dir, tmp_path):
    for i, seed in enumerate([3, 3, 4]):
        train_task(
            make_cfg(f"seed={seed}", "trainer.max_epochs=2", f"paths.run_dir={tmp_path}/run{i}")
        )
    _, runs = mlflow_runs(tmp_path, "text_csv")
    first, again, other = sorted(runs, key=lambda r: r.info.start_time)
    assert {k: first.data.metrics[k] for k in COMPARED} == {
        k: again.data.metrics[k] for k in COMPARED
    }
    # Told apart by name (MLflow's own names came from the seeded RNG: all the same), and
    # the name says what ran: <model folder>-<data>-<6 hex digits>.
    names = [r.info.run_name for r in (first, again, other)]
    assert len(set(names)) == 3, names
    stem = f"{tiny_model_dir.name.lower()}-text-csv-"
    assert all(n.startswith(stem) and len(n) == len(stem) + 6 for n in names), names
    assert first.data.metrics["train/loss_epoch"] != other.data.metrics["train/loss_epoch"]


def test_a_run_records_what_it_takes_to_rerun_it(make_cfg, tmp_path):
    train_task(make_cfg("trainer.max_epochs=1"))
    client, (run,) = mlflow_runs(tmp_path, "text_csv")
    tags = run.data.tags
    assert {
        "sft.git_commit",
        "sft.git_dirty",
        "sft.version.torch",
        "sft.version.transformers",
        "sft.data.train_sha256",
        "sft.data.test_sha256",
        "seed",
    } <= set(tags)
    assert tags["sft.git_dirty"] in {"true", "false", "unknown"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "test_metrics.json"} <= artifacts


def test_sft_reproduce_reports_a_match_from_another_folder(tiny_model_dir, toy_data, tmp_path):
    """The run is started with data paths relative to its folder; the config it logs holds
    them absolute, so `sft-reproduce` reruns it from anywhere."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "data").mkdir(parents=True)
    elsewhere.mkdir()
    for split in ("train", "test"):
        shutil.copy(toy_data[split], project / "data" / f"{split}.csv")
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith(("paths.run_dir", "data.train_path", "data.test_path"))
    ]
    first = run_sft(
        "train",
        *overrides,
        "trainer.max_epochs=2",
        "data.train_path=data/train.csv",
        "data.test_path=data/test.csv",
        cwd=project,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    client, (run,) = mlflow_runs(tmp_path, "text_csv")
    logged = OmegaConf.load(client.download_artifacts(run.info.run_id, "config.yaml", tmp_path))
    assert logged.data.train_path == str(project / "data" / "train.csv")
    assert logged.data.test_path == str(project / "data" / "test.csv")
    done = run_sft(
        "reproduce",
        f"run_id={run.info.run_id}",
        f"tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"paths.outputs={tmp_path}",
        cwd=elsewhere,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All" in done.stdout and "metrics match" in done.stdout
    assert "| NO" not in done.stdout and " NO\n" not in done.stdout
    _, runs = mlflow_runs(tmp_path, "text_csv")
    rerun = next(r for r in runs if r.info.run_id != run.info.run_id)
    assert rerun.data.tags["sft.reproduces"] == run.info.run_id
    assert rerun.data.metrics["test/f1_macro"] == run.data.metrics["test/f1_macro"]


def test_a_param_too_long_for_mlflow_is_cut_with_a_warning_naming_it(tmp_path, caplog):
    from sft.tracking.mlflow_tracker import MLflowTracker

    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db")
    with caplog.at_level(logging.WARNING), tracker.run("long", tags={}):
        tracker.log_params({"data.digits": "x" * 9360, "seed": 42, "model.note": "y" * 6001})
    run = tracker.client.get_run(tracker.run_id)
    assert run.data.params["data.digits"] == "x" * 6000 and run.data.params["seed"] == "42"
    assert run.data.tags["sft.truncated_params"] == "data.digits,model.note"
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("sft.")
    ]
    assert warning == (
        "MLflow keeps 6000 characters of a param: cut data.digits (9360 "
        "characters), model.note (6001 characters); the whole value is in the "
        "run's config.yaml artifact"
    )


def test_sft_reproduce_names_an_unknown_run(tmp_path):
    done = run_sft(
        "reproduce",
        "run_id=0123456789abcdef0123456789abcdef",
        f"tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"paths.outputs={tmp_path}",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "sft-reproduce: error: run_id: no run '0123456789abcdef0123456789abcdef'" in done.stderr
