"""On a CUDA GPU: `trainer=gpu` trains in bf16 where the GPU has it, and DDP runs on one
device. Skipped where no GPU is present."""

from __future__ import annotations

import pytest
import torch

from conftest import mlflow_runs, run_sft, tiny_overrides

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_trainer_gpu_uses_bf16_where_supported(tiny_model_dir, toy_data, tmp_path):
    done = run_sft(
        "train",
        *tiny_overrides(tiny_model_dir, toy_data, tmp_path),
        "trainer=gpu",
        "trainer.max_epochs=2",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = mlflow_runs(tmp_path, "text_csv")
    params = runs[0].data.params
    assert params["trainer.accelerator"] == "gpu"
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    assert params["trainer.precision"] == expected
    assert runs[0].data.metrics["test/acc"] > 0.5  # it learned: bf16 did not break training


def test_ddp_on_one_gpu(tiny_model_dir, toy_data, tmp_path):
    done = run_sft(
        "train",
        *tiny_overrides(tiny_model_dir, toy_data, tmp_path),
        "trainer=ddp",
        "trainer.accelerator=gpu",
        "trainer.devices=1",
        "trainer.max_epochs=2",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = mlflow_runs(tmp_path, "text_csv")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["trainer.strategy"] == "ddp"
    assert runs[0].data.metrics["test/acc"] > 0.5
