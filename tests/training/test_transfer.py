"""experiment=digits_transfer: pretrain a small ViT (built from sft's shipped config, random
weights) on digits 0-4, fine-tune it on 5-9 next to the same fine-tune from scratch, as one
sweep whose parent run holds the learning curves."""

from __future__ import annotations

import pytest

from conftest import mlflow_runs, run_sft


@pytest.mark.slow
def test_transfer_experiment_pretrains_then_fine_tunes_from_the_pretrained_model(tmp_path):
    done = run_sft(
        "train",
        "experiment=digits_transfer",
        f"paths.outputs={tmp_path}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=2",
        "+trainer.limit_test_batches=1",
        "callbacks.progress_bar.refresh_rate=0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = mlflow_runs(tmp_path, "digits")
    parent = next(r for r in runs if r.data.tags.get("sft.sweep") == "true")
    children = {
        r.data.tags["sft.sweep_job"]: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert sorted(children) == ["0", "1", "2"]
    pretrain, scratch, transfer = children["0"], children["1"], children["2"]
    assert pretrain.data.params["data.digits"] == "[0, 1, 2, 3, 4]"
    assert scratch.data.params["model.init"] == "random"
    assert transfer.data.params["model.init"] == "pretrained"
    # Job 2 starts from job 0's saved model, found through the sweep folder.
    assert transfer.data.params["model.name_or_path"].endswith("/0/model")
    assert pretrain.data.tags["sft.model_dir"].endswith("/0/model")
    assert all(r.data.params["data.digits"] == "[5, 6, 7, 8, 9]" for r in (scratch, transfer))
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"learning_curves.png", "leaderboard.csv"} <= artifacts
