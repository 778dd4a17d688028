"""Each split passes through the model once per evaluation: the post-hoc step (temperature,
tuned decisions) and a CV fold's outcome reuse the logits of the validation pass that saw the
best checkpoint's weights and of the test pass (sft.model.module.Evaluation), with the same
numbers as running the model again; `time/*` names each phase after the fit."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from conftest import mlflow_runs


@pytest.fixture
def counted(monkeypatch):
    """Rows the SFTModule's forward saw outside training, per split ('val', 'test'), Lightning's
    sanity check left out; and the validation passes of the fit."""
    from sft.model.module import SFTModule

    rows, passes = Counter(), Counter()
    forward, epoch_end = SFTModule.forward, SFTModule.on_validation_epoch_end

    def counting_forward(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        trainer = getattr(self, "_trainer", None)
        if not self.training and not getattr(trainer, "sanity_checking", False):
            split = "test" if trainer is not None and trainer.testing else "val"
            rows[split] += len(out)
        return out

    def counting_epoch_end(self):
        if not self.trainer.sanity_checking:
            passes["val"] += 1
        return epoch_end(self)

    monkeypatch.setattr(SFTModule, "forward", counting_forward)
    monkeypatch.setattr(SFTModule, "on_validation_epoch_end", counting_epoch_end)
    return rows, passes


def test_post_hoc_reuses_the_best_checkpoints_passes_with_the_same_numbers(
    make_cfg, tmp_path, counted
):
    from sft.training.calibrate import post_hoc
    from sft.training.run import train

    rows, passes = counted
    # val/loss maximized: the best checkpoint is an early epoch, not the last one, so the
    # validation logits reused are that epoch's, not the latest pass's
    cfg = make_cfg(
        "trainer.max_epochs=3",
        "decisions.tune=true",
        "monitor.metric=val/loss",
        "monitor.mode=max",
        "logger.registered_model_name=null",
    )
    result = train(cfg)
    n_val, n_test = len(result.datamodule.datasets["val"]), len(result.datamodule.datasets["test"])
    assert passes["val"] == 3
    # each validation once per epoch, the test once: no pass of the post-hoc step
    assert dict(rows) == {"val": 3 * n_val, "test": n_test}
    assert result.module.evaluations["val_best"].step < result.module.evaluations["val"].step
    assert set(result.evaluated) == {"val", "test"}
    assert result.evaluated["val"] is result.module.evaluations["val_best"]

    reused = post_hoc(cfg, result.module, result.datamodule, tmp_path, result.evaluated)
    rows.clear()
    again = post_hoc(cfg, result.module, result.datamodule, tmp_path)  # runs the model
    assert sum(rows.values()) == n_val + n_test  # outside Lightning: counted as "val"
    assert reused[0] == pytest.approx(again[0], abs=1e-6)  # ECE, *_tuned, temperature
    assert set(reused[1]) == {"temperature", "class_bias"}
    assert reused[1]["temperature"] == pytest.approx(again[1]["temperature"], abs=1e-6)
    assert np.allclose(reused[1]["class_bias"], again[1]["class_bias"], atol=1e-6)

    _, runs = mlflow_runs(tmp_path, "text_csv")
    metrics = runs[0].data.metrics
    assert metrics["decisions/temperature"] == pytest.approx(again[1]["temperature"], abs=1e-6)
    phases = ["test", "post_hoc", "reports", "save_model", "model_card", "log_model"]
    for phase in phases:
        assert 0 <= metrics[f"time/{phase}_s"] <= metrics["time/after_fit_s"], phase
    assert sum(metrics[f"time/{p}_s"] for p in phases) <= metrics["time/after_fit_s"]


def test_a_fold_outcome_puts_the_length_sorted_pass_back_in_the_splits_order(make_cfg):
    from sft.training.fold_outcome import split_outputs
    from sft.training.run import train

    result = train(make_cfg("trainer.max_epochs=1", "logger.registered_model_name=null"))
    module, data = result.module, result.datamodule
    outputs, logits, summary = split_outputs(module, data, "val", result.evaluated["val"])
    assert summary["val/acc"] == pytest.approx(result.evaluated["val"].summary["val/acc"])
    collected = split_outputs(module, data, "val")  # one pass here: no kept one
    assert np.allclose(collected[1], logits, atol=1e-6) and collected[2] == {}
    module.eval()
    with torch.inference_mode():  # one example at a time, in the split's own order
        rows = [torch.from_numpy(ids)[None] for ids in data.datasets["val"].input_ids]
        plain = [module(input_ids=r, attention_mask=torch.ones_like(r)).numpy() for r in rows]
    assert np.allclose(np.concatenate(plain), logits, atol=1e-5)
    assert np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)  # probabilities


def test_a_cv_fold_runs_the_model_once_over_its_fold_and_once_over_test(
    make_cfg, toy_data, counted
):
    from sft.training.cv import train_repeats

    rows, passes = counted
    cfg = make_cfg(
        "trainer.max_epochs=1",
        "cv.folds=2",
        "decisions.tune=true",
        "logger.registered_model_name=null",
    )
    train_repeats(cfg)
    pool = len(toy_data["train"].read_text().splitlines()) - 1  # the header
    tests = len(toy_data["test"].read_text().splitlines()) - 1
    assert passes["val"] == 2
    # before: 4 passes over each validation fold and 3 over test per fold
    assert dict(rows) == {"val": pool, "test": 2 * tests}
