"""Encoder-decoder speech-to-text on the tiny Whisper (sft/assets/whisper_tiny, built with
init=random): labels carry the decoder prompt and -100 padding, a bad language key is refused
in one line, the loss falls on a few clips, and end to end: it trains, logs val/test WER and
CER from generation, registers, and the registered model and transformers' pipeline
transcribe alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sft
from conftest import mlflow_runs, run_sft
from helpers.speech_clips import RATE, sentences, speak, write_corpus
from sft.errors import SFTConfigError

ASSET = "pkg://sft/assets/whisper_tiny"
AUTO = "AutoModelForSpeechSeq2Seq"


def asset_dir() -> str:
    from sft.model.backbone import resolve_model_path

    return str(resolve_model_path(ASSET))


def processor_and_model(language="en", task="transcribe"):
    from sft.data.media import load_processor
    from sft.model.task_model import load_task_model
    from sft.tasks.speech_to_text.readers import Normalizer
    from sft.tasks.speech_to_text.seq2seq import prepare

    _, processor = prepare(load_processor(asset_dir(), "audio"), Normalizer(), 4.0, "drop")
    model = load_task_model(AUTO, ASSET, [], init="random", language=language, task=task)
    processor.set_prompt(model.encoder.generation_config)
    return processor, model.encoder


def test_labels_carry_the_prompt_and_minus_100_padding():
    processor, _ = processor_and_model()
    tokenizer = processor.tokenizer
    labels = processor.labels(["ab", "cab dog"])
    prompt = tokenizer.convert_tokens_to_ids(["<|en|>", "<|transcribe|>", "<|notimestamps|>"])
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert labels[0, :3].tolist() == prompt and labels[1, :3].tolist() == prompt
    # the decoder-start token is the model's, not the labels'
    assert tokenizer.convert_tokens_to_ids("<|startoftranscript|>") not in labels
    short = labels[0][labels[0] != -100].tolist()
    assert short[-1] == eot and tokenizer.decode(short, skip_special_tokens=True) == "ab"
    assert (labels[0, len(short) :] == -100).all() and len(short) < labels.shape[1]
    frames = processor.feature_extractor.nb_max_frames  # the window: 4 s, 400 frames
    batch = processor.collate(
        [{"features": np.zeros((frames, 80), np.float32), "transcript": t, "path": t} for t in "ab"]
    )
    assert batch["input_features"].shape == (2, 80, frames) == (2, 80, 400)


def test_a_bad_language_or_task_is_refused_in_one_line():
    from sft.model.task_model import load_task_model

    with pytest.raises(SFTConfigError, match=r"model\.language=xx: not one of") as err:
        load_task_model(AUTO, ASSET, [], init="random", language="xx")
    assert "\n" not in str(err.value)
    with pytest.raises(SFTConfigError, match=r"model\.task=summarize"):
        load_task_model(AUTO, ASSET, [], init="random", task="summarize")
    with pytest.raises(SFTConfigError, match=r"model\.language/task/generation"):
        load_task_model(
            "AutoModelForCTC", "pkg://sft/assets/parakeet_ctc", [], init="random", language="en"
        )


def test_the_loss_falls_on_a_few_clips():
    from sft.tasks.speech_to_text.seq2seq import WindowFeaturizer

    torch.manual_seed(0)
    processor, model = processor_and_model()
    featurizer = WindowFeaturizer(processor.feature_extractor)
    texts = sentences(4, seed=1)
    items = [
        {"features": featurizer.features(speak(t, i)), "transcript": t, "path": str(i)}
        for i, t in enumerate(texts)
    ]
    batch = processor.collate(items)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    losses = []
    for _ in range(15):
        loss = model(input_features=batch["input_features"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def overrides(root, asset, out) -> list[str]:
    return [
        "model=whisper",
        # the asset remade with a 2 s window: the ~0.6 s clips are found sooner in it
        f"model.name_or_path={asset}",
        "data=transcripts",
        f"data.train_path={root}",
        "data.max_seconds=2",
        "data.batch_size=8",
        "data.worst_examples=3",
        "model.generation.max_new_tokens=12",
        "optimizer.lr=2e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=30",
        "callbacks.early_stopping=null",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run of the config tree: 40 train, 6 validation, 6 test synthetic clips, on
    the asset remade by its make.py with a 2 s window."""
    import importlib.util

    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    make = importlib.util.spec_from_file_location("make", f"{asset_dir()}/make.py")
    module = importlib.util.module_from_spec(make)
    make.loader.exec_module(module)
    asset = tmp_path_factory.mktemp("whisper-2s")
    module.main(asset, seconds=2)
    root = write_corpus(tmp_path_factory.mktemp("clips") / "corpus", 40, 6, 6)
    out = tmp_path_factory.mktemp("whisper-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(root, asset, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "transcripts")
    clips = sorted(str(p) for p in (root / "test").glob("*.wav"))
    return {"out": out, "best": best, "client": client, "run": runs[0], "clips": clips}


def test_it_trains_and_logs_generation_wer_and_cer(trained):
    client, run = trained["client"], trained["run"]
    run_id = run.info.run_id
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss_epoch")]
    assert len(losses) == 30 and losses[-1] < 0.3 * losses[0], losses
    for key in ("val/wer", "val/cer"):
        assert len(client.get_metric_history(run_id, key)) == 30, key
    for key in ("val/wer", "val/cer", "test/wer", "test/cer"):
        assert 0.0 <= run.data.metrics[key], key
    # generation reads the clips (measured: test CER 0.18; an untrained model writes junk)
    assert run.data.metrics["test/cer"] < 0.5
    history = client.get_metric_history(run_id, "val/cer")
    assert trained["best"] == pytest.approx(min(m.value for m in history))
    table = json.loads((trained["out"] / "run" / "tables" / "test_worst.json").read_text())
    assert table["columns"] == ["path", "reference", "hypothesis", "cer"]


def test_the_registered_model_transcribes_as_the_folder_and_the_pipeline(trained, tmp_path):
    import soundfile
    from transformers import pipeline

    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["auto_class"] == AUTO
    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert generation["language"] == "en" and generation["max_new_tokens"] == 12
    clips = trained["clips"][:3]
    expected = sft.load(model_dir).predict(clips)
    assert all(set(r) == {"text"} and isinstance(r["text"], str) for r in expected)
    asr = pipeline("automatic-speech-recognition", model=str(model_dir))
    samples, _ = soundfile.read(clips[0], dtype="float32")
    heard = asr({"raw": samples, "sampling_rate": RATE})["text"]
    assert " ".join(heard.lower().split()) == expected[0]["text"]
    uri = trained["run"].data.tags["sft.model_uri"]
    tracking = f"sqlite:///{trained['out']}/mlflow.db"
    (tmp_path / "in.csv").write_text("text\n" + "".join(f"{p}\n" for p in clips))
    done = run_sft(
        "predict", f"model_uri={uri}", f"tracking_uri={tracking}", "input=in.csv",
        "output=out.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["pred_text"] for row in rows] == [r["text"] for r in expected]
