"""End to end on the shipped tiny wav2vec2 x-vector (model=wav2vec2_xvector, built from its
config): speaker verification trains (the loss falls), logs the equal error rate of trials
among held-out voices, registers a model whose `sft.load` embeds and verifies with the
validation threshold, and that `sft-predict` and the served MLflow model answer with the same
embeddings; a task without embeddings refuses in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sft
from conftest import mlflow_runs, run_sft
from helpers.voices import write_voices


def overrides(folder, out) -> list[str]:
    return [
        "model=wav2vec2_xvector",
        "data=speakers",
        f"data.train_path={folder / 'train'}",
        f"data.val_path={folder / 'validation'}",
        f"data.test_path={folder / 'test'}",
        "data.batch_size=8",
        "data.trials=200",
        "data.max_seconds=1",
        "optimizer.lr=1e-4",
        "trainer.max_epochs=4",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run of the config tree: 6 train voices x 8 clips, 3 unseen voices x 4 clips
    for validation and 3 others for test."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    folder = tmp_path_factory.mktemp("voices")
    write_voices(folder / "train", list(range(6)), 8, seed=0)
    write_voices(folder / "validation", [6, 7, 8], 4, seed=1)
    write_voices(folder / "test", [9, 10, 11], 4, seed=2)
    out = tmp_path_factory.mktemp("speaker-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(folder, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "speakers")
    clips = sorted(str(p) for p in (folder / "test").glob("*.wav"))
    return {"out": out, "best": best, "client": client, "run": runs[0], "clips": clips}


def test_it_trains_and_logs_the_equal_error_rate_of_unseen_voices(trained):
    client, run = trained["client"], trained["run"]
    run_id = run.info.run_id
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss_epoch")]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    metrics = run.data.metrics
    for key in ("val/eer", "val/min_dcf", "test/eer", "test/min_dcf"):
        assert 0.0 <= metrics[key] <= 1.0, key
    # 3 voices x 4 clips: 18 same-speaker pairs, so 18 + 18 trials (data.trials=200 caps none)
    assert metrics["test/trials"] == 36
    assert "val/loss" not in metrics  # no validation voice is a train speaker
    history = client.get_metric_history(run_id, "val/eer")
    assert trained["best"] == pytest.approx(min(m.value for m in history))
    assert run.data.tags["sft.task"] == "speaker_verification"


def test_saved_model_embeds_and_verifies_with_the_validation_threshold(trained):
    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "speaker_verification"
    assert spec["auto_class"] == "AutoModelForAudioXVector"
    assert spec["labels"] == [f"voice{i}" for i in range(6)]
    threshold = spec["verify_threshold"]
    assert -1.0 <= threshold <= 1.0
    predictor = sft.load(model_dir)
    clips = trained["clips"]
    embeddings = predictor.embed(clips[:5])
    assert embeddings.shape == (5, 64) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    alone = predictor.embed([clips[3]])[0]  # a clip's embedding does not depend on its batch
    assert np.allclose(alone, embeddings[3], atol=1e-5)
    answer = predictor.verify(clips[0], clips[4])
    assert answer["score"] == pytest.approx(float(embeddings[0] @ embeddings[4]), abs=1e-5)
    assert answer["same"] == (answer["score"] >= threshold)
    records = predictor.predict(clips[:2])
    assert np.allclose([r["embedding"] for r in records], embeddings[:2], atol=1e-6)


def test_registered_model_predicts_and_serves_embeddings(trained, tmp_path):
    import os
    import sys

    from conftest import PROJECT_ROOT
    from helpers.servers import free_port, serve_and_ask

    uri = trained["run"].data.tags["sft.model_uri"]
    assert uri.startswith("models:/"), uri
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    clips = trained["clips"][:3]
    expected = sft.load(trained["out"] / "run" / "model").embed(clips)
    (tmp_path / "in.csv").write_text("text\n" + "".join(f"{p}\n" for p in clips))
    done = run_sft(
        "predict", f"model_uri={uri}", tracking, "input=in.csv", "output=out.jsonl", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert np.allclose([row["pred_embedding"] for row in rows], expected, atol=1e-6)

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [sys.executable, "-m", "sft.serve", f"model_uri={uri}", tracking, f"port={port}"]
    answer = serve_and_ask(argv, port, clips, tmp_path, env)
    served = [record["embedding"] for record in answer["predictions"]]
    assert np.allclose(served, expected, atol=1e-6)


def test_a_task_that_does_not_embed_says_so_in_one_line(tmp_path):
    """A text classifier's predictor (its spec is all the question needs) has no embed or
    verify: SFTConfigError, one line naming the folder and the task."""
    from sft.errors import SFTConfigError
    from sft.inference.predictor import Predictor

    spec = {"task": "multiclass", "labels": ["a", "b"], "max_length": 8}
    predictor = Predictor(tmp_path, spec, tokenizer=None, runner=None, backend="torch")
    for call, question in (
        (lambda: predictor.embed(["x"]), "embed"),
        (lambda: predictor.verify("x", "y"), "verify"),
    ):
        with pytest.raises(SFTConfigError) as caught:
            call()
        assert str(caught.value) == f"{tmp_path}: task 'multiclass' does not {question}"
