"""ONNX export of CTC models: a wav2vec2 CTC model exports with its output lengths, and the
ONNX folder transcribes as the PyTorch one does (sft-export checks parity and agreement);
Parakeet's attention does not export with torch's exporter, refused in one line."""

from __future__ import annotations

import json

import pytest

import sft
from conftest import run_sft
from helpers.names import auto_model_name
from helpers.speech_clips import write_corpus


def quick_run(model: str, root, out) -> None:
    """One epoch of `model` on the clips at `root` (what matters here is the saved model)."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"model={model}",
                "data=transcripts",
                f"data.train_path={root}",
                "trainer.max_epochs=1",
                "trainer.enable_model_summary=false",
                "callbacks.progress_bar.refresh_rate=0",
                f"paths.outputs={out}",
                f"paths.run_dir={out}/run",
            ],
        )
    train_task(cfg)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("clips") / "corpus", 8, 3, 3)


def test_a_wav2vec2_ctc_model_exports_to_onnx_and_transcribes_alike(corpus, tmp_path):
    quick_run("wav2vec2_ctc", corpus, tmp_path / "out")
    model_dir = tmp_path / "out" / "run" / "model"
    uri, tracking = (
        f"models:/{auto_model_name('transcripts', corpus, 'speech_to_text')}/1",
        f"sqlite:///{tmp_path}/out/mlflow.db",
    )
    args = [f"model_uri={uri}", f"tracking_uri={tracking}", "format=onnx", "out=onnx"]
    done = run_sft("export", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Parity (onnx export vs the PyTorch model" in done.stdout
    assert "1.0000 of predicted labels equal" in done.stdout  # the run's val clips
    spec = json.loads((tmp_path / "onnx" / "sft_model.json").read_text())
    assert spec["onnx"]["inputs"] == ["input_values", "attention_mask"]
    clips = sorted(str(p) for p in (corpus / "test").glob("*.wav"))
    exported = sft.load(tmp_path / "onnx")
    assert exported.backend == "onnx"
    assert exported.predict(clips) == sft.load(model_dir).predict(clips)


def test_parakeet_is_refused_by_the_onnx_exporter_in_one_line(corpus, tmp_path):
    from sft.errors import SFTConfigError
    from sft.inference.onnx import export_onnx

    quick_run("parakeet_ctc", corpus, tmp_path / "out")
    predictor = sft.load(tmp_path / "out" / "run" / "model")
    clips = sorted(str(p) for p in (corpus / "test").glob("*.wav"))
    with pytest.raises(SFTConfigError) as caught:
        export_onnx(predictor, tmp_path / "onnx", clips)
    assert str(caught.value).startswith("format=onnx: ParakeetEncoder does not export to ONNX (")
    assert "\n" not in str(caught.value)
