"""Audio classification: audio_folder data (WAV, FLAC or OGG resampled to the model's rate,
cut or padded to max_seconds), a wav2vec2 backbone through its feature extractor,
freeze_feature_encoder; a run learns, logs to MLflow and predicts through the logged model
and `sft-predict`.

The run fine-tunes fully: a *random* feature encoder, frozen, gives the tiny model nothing to
learn tones from (measured: test accuracy 0.50 frozen, 0.94 full). Freezing is for
pretrained speech models; its effect on the parameters is checked on its own below."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

import sft
from conftest import media_overrides, mlflow_runs, run_sft
from sft.errors import SFTConfigError, SFTDataError
from sft.train import train_task


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    from helpers.backbones import write_tones

    root = tmp_path_factory.mktemp("tones")
    return {
        "train": write_tones(root / "train", per_class=30, seed=1),
        "test": write_tones(root / "test", per_class=8, seed=2),
    }


@pytest.fixture(scope="module")
def audio_run(tiny_wav2vec2_dir, tones, tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR

    out = tmp_path_factory.mktemp("audio-run")
    overrides = media_overrides("wav2vec2", tiny_wav2vec2_dir, "audio_folder", out) + [
        f"data.train_path={tones['train']}",
        f"data.test_path={tones['test']}",
        "data.val_fraction=0.2",
        "data.max_seconds=0.4",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train_task(cfg)
    _client, runs = mlflow_runs(out, "audio_folder")
    return {"out": out, "run": runs[0], "model_dir": out / "run" / "model"}


def recode(folder, formats: tuple[str, ...]):
    """Rewrite each WAV below `folder` as the next of `formats` in turn ("flac", "ogg"), with
    soundfile, removing the WAV; returns the new files."""
    import soundfile

    written = []
    for i, wav in enumerate(sorted(folder.rglob("*.wav"))):
        samples, rate = soundfile.read(wav, dtype="int16")  # FLAC: the same 16-bit samples
        out = wav.with_suffix("." + formats[i % len(formats)])
        soundfile.write(out, samples, rate)
        wav.unlink()
        written.append(out)
    return written


@pytest.fixture(scope="module")
def flac_ogg_run(tiny_wav2vec2_dir, tmp_path_factory):
    """The audio run, on tones stored as FLAC and OGG/Vorbis only (no WAV at all); the test
    folder is read through its metadata.csv (file_name, label), as datasets' audiofolder
    builder reads one."""
    from hydra import compose, initialize_config_dir

    from helpers.backbones import write_tones
    from sft.cli import CONF_DIR

    root = tmp_path_factory.mktemp("flac-ogg")
    train, test = write_tones(root / "train", 30, seed=3), write_tones(root / "test", 8, seed=4)
    tests = recode(test, ("flac", "ogg"))
    recode(train, ("flac", "ogg"))
    pd.DataFrame(
        {
            "file_name": [str(p.relative_to(test)) for p in tests],
            "label": [p.parent.name for p in tests],
        }
    ).to_csv(test / "metadata.csv", index=False)
    out = tmp_path_factory.mktemp("flac-ogg-run")
    overrides = media_overrides("wav2vec2", tiny_wav2vec2_dir, "audio_folder", out) + [
        f"data.train_path={train}",
        f"data.test_path={test}",
        "data.val_fraction=0.2",
        "data.max_seconds=0.4",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train_task(cfg)
    _, runs = mlflow_runs(out, "audio_folder")
    return {"run": runs[0], "tests": tests, "out": out}


def test_wav2vec2_learns_tones_and_logs_like_text(audio_run):
    run = audio_run["run"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] > 0.8  # chance is 1/2
    assert {"test/per_class/f1/low", "test/per_class/f1/high", "val/f1_macro"} <= set(
        run.data.metrics
    )
    assert run.data.params["data.max_seconds"] == "0.4"


def test_flac_and_ogg_files_train_and_test_like_wav(flac_ogg_run):
    run = flac_ogg_run["run"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] > 0.8  # as the WAV run; chance is 1/2
    report = pd.read_csv(f"{run.data.tags['sft.run_dir']}/per_class_report.csv")
    tests = flac_ogg_run["tests"]
    assert {p.suffix for p in tests} == {".flac", ".ogg"}
    # Every test file was read: none skipped for its extension.
    assert report.loc[report["label"] == "macro avg", "support"].item() == len(tests) == 16
    # The registered model decides on the files as the run did on its test split.
    mlflow.set_tracking_uri(f"sqlite:///{flac_ogg_run['out']}/mlflow.db")
    served = mlflow.pyfunc.load_model(run.data.tags["sft.model_uri"])
    assert run.data.tags["sft.model_uri"].startswith("models:/")
    labels = [r["label"] for r in served.predict(pd.DataFrame({"text": [str(p) for p in tests]}))]
    accuracy = np.mean([label == p.parent.name for label, p in zip(labels, tests)])
    assert accuracy == pytest.approx(run.data.metrics["test/acc"])


def test_flac_and_ogg_copies_predict_like_the_wav(audio_run, tones, tmp_path):
    import shutil

    from omegaconf import OmegaConf

    from sft.predict import predict_task

    wavs = sorted(tones["test"].rglob("*.wav"))
    for codec in ("flac", "ogg"):
        shutil.copytree(tones["test"], tmp_path / codec)
        recode(tmp_path / codec, (codec,))
    predictor = sft.load(audio_run["model_dir"])
    as_wav = predictor.logits([str(p) for p in wavs])
    copies = {
        codec: [
            str(tmp_path / codec / p.relative_to(tones["test"])).removesuffix(".wav") + "." + codec
            for p in wavs
        ]
        for codec in ("flac", "ogg")
    }
    # FLAC is lossless: the same samples, the same logits.
    np.testing.assert_allclose(predictor.logits(copies["flac"]), as_wav, atol=1e-5)
    # Vorbis is lossy: the same predicted labels.
    assert (predictor.logits(copies["ogg"]).argmax(1) == as_wav.argmax(1)).all()
    predict_task(
        OmegaConf.create(
            {  # a folder as sft-predict's input finds both kinds
                "model_uri": str(audio_run["model_dir"]),
                "input": str(tmp_path),
                "output": str(tmp_path / "preds.csv"),
                "text_column": "path",
                "batch_size": 8,
                "progress": False,
                "backend": "auto",
                "tracking_uri": "sqlite:///unused.db",
            }
        )
    )
    written = pd.read_csv(tmp_path / "preds.csv")
    assert sorted(written["path"]) == sorted(copies["flac"] + copies["ogg"])


def test_freeze_feature_encoder_freezes_the_convolutions_only(tiny_wav2vec2_dir):
    from sft.model.backbone import Backbone
    from sft.model.finetune import FreezeFeatureEncoder

    module = torch.nn.Module()
    module.backbone = Backbone(str(tiny_wav2vec2_dir))
    module.head = torch.nn.Linear(module.backbone.hidden_size, 2)
    strategy = FreezeFeatureEncoder()
    strategy.prepare(module)
    encoder = module.backbone.encoder
    convs = {id(p) for p in encoder.feature_extractor.parameters()}
    assert convs and not any(p.requires_grad for p in encoder.feature_extractor.parameters())
    others = [p for p in module.parameters() if id(p) not in convs]
    assert all(p.requires_grad for p in others)
    grouped = {id(p) for g in strategy.param_groups(module, 1e-3, 0.01) for p in g["params"]}
    assert grouped == {id(p) for p in others}  # frozen convolutions are not optimized


def test_wav2vec2_predicts_through_load_mlflow_and_sft_predict(audio_run, tones, tmp_path):
    files = sorted(str(p) for p in tones["test"].rglob("*.wav"))
    truth = [p.split("/")[-2] for p in files]
    predictor = sft.load(audio_run["model_dir"])
    assert predictor.spec["modality"] == "audio" and predictor.spec["max_seconds"] == 0.4
    records = predictor.predict(files)
    assert np.mean([r["label"] == t for r, t in zip(records, truth)]) > 0.8
    mlflow.set_tracking_uri(f"sqlite:///{audio_run['out']}/mlflow.db")
    served = mlflow.pyfunc.load_model(f"runs:/{audio_run['run'].info.run_id}/model")
    assert [r["label"] for r in served.predict(pd.DataFrame({"text": files}))] == [
        r["label"] for r in records
    ]
    result = run_sft(
        "predict",
        f"model_uri={audio_run['model_dir']}",
        f"input={tones['test']}",
        "text_column=path",
        f"output={tmp_path / 'preds.csv'}",
        "progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(tmp_path / "preds.csv")
    assert written["pred_label"].tolist() == [r["label"] for r in records]


def test_audio_is_resampled_and_cut_or_padded(tiny_wav2vec2_dir, tmp_path):
    from helpers.backbones import write_tone
    from sft.data.media import AudioFeaturizer, load_audio, load_processor

    long = write_tone(
        tmp_path / "long.wav", 440.0, np.random.default_rng(0), rate=16000, seconds=1.0
    )
    short = write_tone(
        tmp_path / "short.wav", 440.0, np.random.default_rng(0), rate=16000, seconds=0.1
    )
    samples = load_audio(str(long), 8000)
    assert samples.shape == (8000,)  # 1 s at 16 kHz -> 8 kHz
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 8000 / len(samples) - 440.0) < 2  # still 440 Hz
    featurize = AudioFeaturizer(load_processor(str(tiny_wav2vec2_dir), "audio"), 0.5)
    values = featurize([str(long), str(short)])["input_values"]
    assert values.shape == (2, 4000)
    import soundfile  # stereo: the channels are averaged

    left = load_audio(str(long), 16000)
    soundfile.write(tmp_path / "stereo.flac", np.stack([left, np.zeros_like(left)], 1), 16000)
    np.testing.assert_allclose(
        load_audio(str(tmp_path / "stereo.flac"), 16000), left / 2, atol=1e-4
    )


def test_an_attention_mask_keeps_padding_out_of_the_logits(tmp_path):
    """A model whose extractor returns a mask: one clip alone, and padded in a batch with a
    longer clip (as the featurizer batches for prediction, and as training's collate pads
    clips featurized one by one), gives the same logits; without the mask it would not."""
    from helpers.backbones import tiny_wav2vec2, write_tone
    from sft.data.media import AudioFeaturizer, load_processor
    from sft.data.media_module import stack_batch
    from sft.model.backbone import Backbone

    folder = tiny_wav2vec2(tmp_path / "w2v", masked=True)
    short = str(
        write_tone(tmp_path / "short.wav", 440.0, np.random.default_rng(0), rate=8000, seconds=0.3)
    )
    long = str(
        write_tone(tmp_path / "long.wav", 880.0, np.random.default_rng(1), rate=8000, seconds=0.9)
    )
    featurize = AudioFeaturizer(load_processor(str(folder), "audio"), max_seconds=2.0)
    torch.manual_seed(0)
    backbone, head = Backbone(str(folder), pooling="mean").eval(), torch.nn.Linear(32, 3)

    def logits(inputs, masked=True):
        inputs = {k: torch.as_tensor(v) for k, v in inputs.items() if k != "labels"}
        mask = inputs.pop("attention_mask")
        with torch.no_grad():
            return head(backbone(None, mask if masked else None, **inputs)).numpy()

    alone = featurize([short])
    assert alone["input_values"].shape == (1, 2400) and alone["attention_mask"].all()
    batched = featurize([short, long])
    assert batched["input_values"].shape == (2, 7200)
    assert batched["attention_mask"][0].sum() == 2400
    np.testing.assert_allclose(logits(batched)[0], logits(alone)[0], atol=1e-4)
    collated = stack_batch(
        [({k: v[0] for k, v in featurize([p]).items()}, 0) for p in (short, long)]
    )
    np.testing.assert_allclose(logits(collated)[0], logits(alone)[0], atol=1e-4)
    assert np.abs(logits(batched, masked=False)[0] - logits(alone)[0]).max() > 1e-3


def test_a_corrupt_file_in_a_run_is_one_line_naming_it(tiny_wav2vec2_dir, tmp_path):
    from conftest import run_train_in_process
    from helpers.backbones import write_tones

    data = write_tones(tmp_path / "data", per_class=4, seed=5)
    (data / "high" / "broken.ogg").write_bytes(b"OggS" + bytes(200))
    code, stderr = run_train_in_process(
        *media_overrides("wav2vec2", tiny_wav2vec2_dir, "audio_folder", tmp_path),
        f"data.train_path={data}",
        "data.val_fraction=0.25",
        "data.max_seconds=0.2",
        "trainer.max_epochs=1",
        "logger=none",
    )
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("sft-train: error:")]
    assert len(errors) == 1 and stderr.rstrip().splitlines()[-1] == errors[0], stderr
    assert errors[0].startswith(
        f"sft-train: error: {data / 'high' / 'broken.ogg'}: not a readable OGG file ("
    ), errors[0]


def test_bad_audio_input_fails_with_one_line(tmp_path, tiny_gpt2_dir):
    from sft.data.media import load_audio

    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(SFTDataError, match=r"x.wav: not a readable WAV file"):
        load_audio(str(tmp_path / "x.wav"), 8000)
    with pytest.raises(SFTDataError, match=r"nothing.wav: audio file not found"):
        load_audio(str(tmp_path / "nothing.wav"), 8000)
    import soundfile

    tone = (0.5 * np.sin(np.arange(4000) / 3)).astype(np.float32)
    for codec in ("flac", "ogg"):
        soundfile.write(tmp_path / f"good.{codec}", tone, 8000)
        assert load_audio(str(tmp_path / f"good.{codec}"), 8000).shape == (4000,)
        whole = (tmp_path / f"good.{codec}").read_bytes()
        (tmp_path / f"cut.{codec}").write_bytes(whole[: len(whole) // 2])  # truncated
        (tmp_path / f"text.{codec}").write_text("not audio")
        for name in (f"cut.{codec}", f"text.{codec}"):
            with pytest.raises(
                SFTDataError,
                match=rf"^\S*/{name}: not a readable "
                rf"{codec.upper()} file \([^\n]+\)$",
            ):
                load_audio(str(tmp_path / name), 8000)
    from sft.model.backbone import Backbone
    from sft.model.finetune import FreezeFeatureEncoder

    module = type("M", (), {})()
    module.backbone = Backbone(str(tiny_gpt2_dir), pooling="last_token", max_length=16)
    with pytest.raises(SFTConfigError, match="finetune=freeze_feature_encoder: GPT2Model has no"):
        FreezeFeatureEncoder().prepare(module)
