"""Same config and seed, same metrics to the last digit; `sft-reproduce` proves it."""

from __future__ import annotations

from conftest import mlflow_runs, run_sft, tiny_overrides
from sft.train import train_task

COMPARED = ("val/f1_macro", "val/loss", "test/acc", "test/f1_macro", "test/loss", "train/loss_epoch")


def test_same_seed_same_metrics_other_seed_other_metrics(make_cfg, tmp_path):
    for i, seed in enumerate([3, 3, 4]):
        train_task(make_cfg(f"seed={seed}", "trainer.max_epochs=2",
                            f"paths.run_dir={tmp_path}/run{i}"))
    _, runs = mlflow_runs(tmp_path, "text_csv")
    first, again, other = sorted(runs, key=lambda r: r.info.start_time)
    assert {k: first.data.metrics[k] for k in COMPARED} == {
        k: again.data.metrics[k] for k in COMPARED}
    assert first.data.metrics["train/loss_epoch"] != other.data.metrics["train/loss_epoch"]


def test_a_run_records_what_it_takes_to_rerun_it(make_cfg, tmp_path):
    train_task(make_cfg("trainer.max_epochs=1"))
    client, (run,) = mlflow_runs(tmp_path, "text_csv")
    tags = run.data.tags
    assert {"sft.git_commit", "sft.git_dirty", "sft.version.torch", "sft.version.transformers",
            "sft.data.train_sha256", "sft.data.test_sha256", "seed"} <= set(tags)
    assert tags["sft.git_dirty"] in {"true", "false", "unknown"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "test_metrics.json"} <= artifacts


def test_sft_reproduce_reports_a_match(tiny_model_dir, toy_data, tmp_path):
    overrides = [o for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
                 if not o.startswith("paths.run_dir")] + ["trainer.max_epochs=2"]
    first = run_sft("train", *overrides, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    _, (run,) = mlflow_runs(tmp_path, "text_csv")
    done = run_sft("reproduce", f"run_id={run.info.run_id}",
                   f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", f"paths.outputs={tmp_path}",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All" in done.stdout and "metrics match" in done.stdout
    assert "| NO" not in done.stdout and " NO\n" not in done.stdout
    _, runs = mlflow_runs(tmp_path, "text_csv")
    rerun = next(r for r in runs if r.info.run_id != run.info.run_id)
    assert rerun.data.tags["sft.reproduces"] == run.info.run_id
    assert rerun.data.metrics["test/f1_macro"] == run.data.metrics["test/f1_macro"]


def test_sft_reproduce_names_an_unknown_run(tmp_path):
    done = run_sft("reproduce", "run_id=0123456789abcdef0123456789abcdef",
                   f"tracking_uri=sqlite:///{tmp_path}/mlflow.db", f"paths.outputs={tmp_path}",
                   cwd=tmp_path)
    assert done.returncode == 2
    assert "sft-reproduce: error: run_id: no run '0123456789abcdef0123456789abcdef'" in done.stderr
