"""`sft.load`: a saved model folder predicts exactly what the in-memory module computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import sft
from conftest import PROJECT_ROOT
from helpers.saved_models import TASKS, TEXTS, build
from sft.errors import SFTConfigError, SFTDataError
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model
from sft.tasks.sequence.metrics import predictions


def reference(module, tokenizer, texts, clean=False):
    """The module's own outputs, one text at a time (no padding at all)."""
    from sft.data.labels import clean as clean_text

    rows = []
    for text in texts:
        ids = tokenizer(clean_text(text) if clean else text, truncation=True, max_length=64)[
            "input_ids"
        ]
        ids = torch.tensor([ids])
        with torch.no_grad():
            rows.append(module(ids, torch.ones_like(ids))[0])
    return torch.stack(rows)


@pytest.mark.parametrize(
    "task,mlp",
    [("multiclass", False), ("binary", False), ("regression", False), ("multiclass", True)],
)
def test_loaded_model_matches_the_module(tiny_model_dir, tmp_path, task, mlp):
    module = build(tiny_model_dir, task, mlp)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    folder = save_model(module, tokenizer, module.head_config, 64, tmp_path / "model")
    predictor = sft.load(folder)
    assert predictor.task == task and predictor.backend == "torch"
    expected = reference(module, tokenizer, TEXTS)
    logits = predictor.logits(TEXTS, batch_size=2)
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-5)
    records = predictor.predict(TEXTS)
    assert len(records) == len(TEXTS)
    if task == "regression":
        assert [r["score"] for r in records] == pytest.approx(expected[:, 0].tolist(), abs=1e-5)
        return
    probs = predictions(task, expected).numpy()
    for record, row in zip(records, probs):
        assert list(record["probabilities"]) == TASKS[task]
        assert list(record["probabilities"].values()) == pytest.approx(row.tolist(), abs=1e-5)
        assert record["label"] == TASKS[task][int(row.argmax())]


def test_batch_size_and_order_do_not_change_predictions(tiny_model_dir, tmp_path):
    module = build(tiny_model_dir, "multiclass")
    folder = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, tmp_path / "model"
    )
    predictor = sft.load(folder)
    one = predictor.logits(TEXTS, batch_size=1)
    np.testing.assert_allclose(predictor.logits(TEXTS, batch_size=64), one, atol=1e-5)
    np.testing.assert_allclose(predictor.logits(TEXTS[::-1], batch_size=3), one[::-1], atol=1e-5)
    assert predictor.logits([]).shape == (0, 3)


def test_saved_spec_fields_drive_prediction(tiny_model_dir, tmp_path):
    """clean_text cleans inputs as training did; a binary threshold picks the label."""
    module = build(tiny_model_dir, "binary")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    folder = save_model(
        module, tokenizer, module.head_config, 64, tmp_path / "model", clean_text=True
    )
    predictor = sft.load(folder)
    np.testing.assert_allclose(
        predictor.logits(TEXTS), reference(module, tokenizer, TEXTS, clean=True).numpy(), atol=1e-5
    )
    spec_path = folder / "sft_model.json"
    spec = json.loads(spec_path.read_text())
    p_yes = [r["probabilities"]["yes"] for r in predictor.predict(TEXTS)]
    for threshold, expected in ((0.0, "yes"), (1.0, "no")):
        spec_path.write_text(json.dumps({**spec, "threshold": threshold}))
        assert {r["label"] for r in sft.load(folder).predict(TEXTS)} == {expected}
    spec_path.write_text(json.dumps({**spec, "threshold": float(np.median(p_yes))}))
    labels = [r["label"] for r in sft.load(folder).predict(TEXTS)]
    assert labels == ["yes" if p > np.median(p_yes) else "no" for p in p_yes]


def test_bad_folders_and_inputs_fail_with_one_line(tiny_model_dir, tmp_path):
    with pytest.raises(SFTConfigError, match="model folder not found"):
        sft.load(tmp_path / "missing")
    with pytest.raises(SFTConfigError, match="not an sft model folder"):
        sft.load(tiny_model_dir)  # a plain transformers folder
    module = build(tiny_model_dir, "multiclass")
    folder = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, tmp_path / "model"
    )
    predictor = sft.load(folder)
    with pytest.raises(SFTDataError, match="input 1: expected a string, got int"):
        predictor.predict(["fine", 3])
    with pytest.raises(SFTDataError, match="a single string"):
        predictor.predict("good")
    with pytest.raises(SFTConfigError, match=r"no model\.onnx"):
        sft.load(folder, backend="onnx")
    spec = json.loads((folder / "sft_model.json").read_text())
    spec["head"]["_target_"] = "os.system"
    (folder / "sft_model.json").write_text(json.dumps(spec))
    with pytest.raises(SFTConfigError, match="not one of sft's heads"):
        sft.load(folder)


def test_sft_load_needs_neither_hydra_nor_mlflow(tiny_model_dir, tmp_path):
    module = build(tiny_model_dir, "multiclass")
    folder = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, tmp_path / "model"
    )
    probe = (
        "import sys\n"
        "import sft\n"
        "assert 'torch' not in sys.modules, 'import sft pulled in torch'\n"
        f"print(sft.load({str(folder)!r}).predict(['good drug'])[0]['label'])\n"
        "print(sorted(m for m in ('hydra', 'omegaconf', 'mlflow', 'pytorch_lightning') "
        "if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    label, heavy = done.stdout.strip().splitlines()
    assert label in TASKS["multiclass"]
    assert heavy == "[]"
