"""End to end on the tiny Parakeet CTC (sft/assets/parakeet_ctc, built with init=random):
speech_to_text trains (the loss falls), logs WER and CER per epoch and the worst test
utterances as an MLflow table, saves a folder transformers' ASR pipeline loads, and
registers a model that `sft.load`, `sft-predict` and the MLflow pyfunc answer alike."""

from __future__ import annotations

import json

import pytest

import sft
from conftest import mlflow_runs, run_sft
from helpers.speech_clips import write_corpus


def overrides(root, out) -> list[str]:
    return [
        "model=parakeet_ctc",
        # narrower and shallower than the shipped default: a short test
        "+model.config.hidden_size=64",
        "+model.config.num_hidden_layers=2",
        "+model.config.intermediate_size=256",
        "data=transcripts",
        f"data.train_path={root}",
        "data.batch_size=8",
        "data.worst_examples=3",
        "optimizer.lr=2e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=14",
        "callbacks.early_stopping=null",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run of the config tree: 40 train, 6 validation, 6 test synthetic clips."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    root = write_corpus(tmp_path_factory.mktemp("clips") / "corpus", 40, 6, 6)
    out = tmp_path_factory.mktemp("speech-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(root, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "transcripts")
    clips = sorted(str(p) for p in (root / "test").glob("*.wav"))
    return {"out": out, "best": best, "client": client, "run": runs[0], "clips": clips}


def test_it_trains_and_logs_wer_cer_and_the_worst_utterances(trained):
    client, run = trained["client"], trained["run"]
    run_id = run.info.run_id
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss_epoch")]
    assert len(losses) == 14 and losses[-1] < 0.5 * losses[0], losses
    metrics = run.data.metrics
    for key in ("val/wer", "val/cer", "test/wer", "test/cer"):
        assert 0.0 <= metrics[key] <= 1.5, key
    assert metrics["test/cer"] < 0.5  # it reads the tones
    history = client.get_metric_history(run_id, "val/cer")
    assert trained["best"] == pytest.approx(min(m.value for m in history))
    assert run.data.tags["sft.task"] == "speech_to_text"
    assert run.data.tags["sft.monitor"] == "val/cer"
    assert run.data.tags["sft.cache.media.decoded"] == "3"  # each split's features, once
    table = json.loads((trained["out"] / "run" / "tables" / "test_worst.json").read_text())
    assert table["columns"] == ["path", "reference", "hypothesis", "cer"]
    assert len(table["data"]) == 3
    assert [a.path for a in client.list_artifacts(run_id, "tables")] == ["tables/test_worst.json"]
    # logged as an MLflow table (the tag the UI's table view reads), not only as a file
    logged = json.loads(run.data.tags["mlflow.loggedArtifacts"])
    assert {"path": "tables/test_worst.json", "type": "table"} in logged
    cers = [row[3] for row in table["data"]]
    assert cers == sorted(cers, reverse=True)


def test_the_model_folder_transcribes_and_transformers_pipeline_loads_it(trained):
    from transformers import pipeline

    from helpers.speech_clips import RATE

    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "speech_to_text" and spec["auto_class"] == "AutoModelForCTC"
    records = sft.load(model_dir).predict(trained["clips"][:3])
    assert all(set(r) == {"text"} and isinstance(r["text"], str) for r in records)
    import soundfile

    asr = pipeline("automatic-speech-recognition", model=str(model_dir))
    samples, _ = soundfile.read(trained["clips"][0], dtype="float32")
    heard = asr({"raw": samples, "sampling_rate": RATE})["text"]
    assert " ".join(heard.split()) == records[0]["text"]


def test_the_registered_model_predicts_and_serves_the_same_transcripts(trained, tmp_path):
    import mlflow

    uri = trained["run"].data.tags["sft.model_uri"]
    assert uri.startswith("models:/"), uri
    tracking = f"sqlite:///{trained['out']}/mlflow.db"
    clips = trained["clips"][:3]
    expected = sft.load(trained["out"] / "run" / "model").predict(clips)
    (tmp_path / "in.csv").write_text("text\n" + "".join(f"{p}\n" for p in clips))
    done = run_sft(
        "predict", f"model_uri={uri}", f"tracking_uri={tracking}", "input=in.csv",
        "output=out.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["pred_text"] for row in rows] == [r["text"] for r in expected]
    mlflow.set_tracking_uri(tracking)
    import pandas as pd

    served = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"text": clips}))
    assert list(served) == expected
