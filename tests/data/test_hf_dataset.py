"""data=hf_dataset: a folder written by save_to_disk and a local dataset folder of Parquet
files with a README train, log and predict through the registered model like files; a
ClassLabel keeps its order, a list of ClassLabel is multilabel, a float column regression.
(Bad input, one line each: tests/apps/test_errors.py.)"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from conftest import mlflow_runs, toy_frame
from helpers.names import auto_model_name
from sft.data.hf_module import HFDatasetDataModule
from sft.errors import SFTConfigError
from sft.tasks.sequence import SEQUENCE
from sft.train import train_task

ORDER = ["positive", "negative", "neutral"]  # not sorted: the ClassLabel's own order


def class_label_split(frame: pd.DataFrame) -> Dataset:
    features = Features({"text": Value("string"), "label": ClassLabel(names=ORDER)})
    return Dataset.from_dict(
        {"text": list(frame["text"]), "label": [ORDER.index(v) for v in frame["label"]]},
        features=features,
    )


def train_on(tiny_model_dir, out, *data_overrides: str):
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR

    overrides = [
        "model=hf",
        f"model.name_or_path={tiny_model_dir}",
        "model.max_length=64",
        "data=hf_dataset",
        *data_overrides,
        "optimizer.lr=3e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=6",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        train_task(compose(config_name="train", overrides=overrides))
    client, runs = mlflow_runs(out, "hf_dataset")
    return client, runs[0]


def predict_registered(out, name: str, texts: list[str]) -> list[str]:
    mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
    served = mlflow.pyfunc.load_model(f"models:/{name}/1")
    return [r["label"] for r in served.predict(pd.DataFrame({"text": texts}))]


def sft_predict(model_dir, source, out, split=None, column="text") -> pd.DataFrame:
    """sft-predict in this process (as test_images.py does) on a dataset folder."""
    from omegaconf import OmegaConf

    from sft.predict import predict_task

    predict_task(
        OmegaConf.create(
            {
                "model_uri": str(model_dir),
                "input": str(source),
                "split": split,
                "output": str(out),
                "text_column": column,
                "batch_size": 8,
                "progress": False,
                "backend": "auto",
                "tracking_uri": "sqlite:///unused.db",
            }
        )
    )
    return pd.read_csv(out)


def test_a_saved_dataset_trains_logs_and_predicts_with_the_classlabel_order(
    tiny_model_dir, tmp_path
):
    folder = tmp_path / "saved"
    test = toy_frame(30, seed=2)
    DatasetDict(
        {"train": class_label_split(toy_frame(90, seed=1)), "test": class_label_split(test)}
    ).save_to_disk(str(folder))
    client, run = train_on(
        tiny_model_dir, tmp_path / "out", f"data.path={folder}", "data.val_fraction=0.2"
    )
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] > 0.8  # chance is 1/3
    assert run.data.params["data.path"] == str(folder)
    assert run.data.tags["sft.data.train_sha256"]
    name = auto_model_name("hf_dataset", folder, "multiclass")  # registered name: auto
    assert run.data.tags["sft.model_uri"] == f"models:/{name}/1"
    # data.name is the dataset's configuration (null): the registry names the data, not 'None'
    described = client.get_model_version(name, "1").description
    assert "on data 'hf_dataset' (task multiclass)" in described and "None" not in described
    import sft

    predictor = sft.load(tmp_path / "out" / "run" / "model")
    assert predictor.spec["labels"] == ORDER
    predicted = predict_registered(tmp_path / "out", name, list(test["text"]))
    # The served model decides as the run did on this same test split.
    accuracy = np.mean([p == g for p, g in zip(predicted, test["label"])])
    assert accuracy == pytest.approx(run.data.metrics["test/acc"]) and accuracy > 0.7
    # sft-predict on the saved folder: its test split, ClassLabel ids read as names.
    table = sft_predict(tmp_path / "out" / "run" / "model", folder, tmp_path / "preds.csv")
    assert table["label"].tolist() == test["label"].tolist()
    assert table["pred_label"].tolist() == predicted


def test_a_parquet_folder_with_a_readme_maps_its_splits(tiny_model_dir, tmp_path):
    folder = tmp_path / "parquet"
    (folder / "data").mkdir(parents=True)
    toy_frame(90, seed=3).to_parquet(folder / "data" / "fit.parquet")
    test = toy_frame(30, seed=4)
    test.to_parquet(folder / "data" / "holdout.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: reviews\n  data_files:\n  - split: fit\n"
        "    path: data/fit.parquet\n  - split: holdout\n    path: data/holdout.parquet\n"
        "---\n# toy reviews\n"
    )
    _client, run = train_on(
        tiny_model_dir,
        tmp_path / "out",
        f"data.path={folder}",
        "data.name=reviews",
        "data.splits.train=fit",
        "data.splits.test=holdout",
        "data.val_fraction=0.2",
    )
    assert run.info.status == "FINISHED" and run.data.metrics["test/acc"] > 0.8
    name = auto_model_name("hf_dataset", folder, "multiclass")  # registered name: auto
    predicted = predict_registered(tmp_path / "out", name, list(test["text"]))
    accuracy = np.mean([p == g for p, g in zip(predicted, test["label"])])
    assert accuracy == pytest.approx(run.data.metrics["test/acc"]) and accuracy > 0.7
    table = sft_predict(
        tmp_path / "out" / "run" / "model", folder, tmp_path / "preds.csv", split="holdout"
    )
    assert table["pred_label"].tolist() == predicted
    with pytest.raises(
        SFTConfigError,
        match=r"^split: no split 'test' in .* \(splits: fit, "
        r"holdout\)$",
    ):
        sft_predict(tmp_path / "out" / "run" / "model", folder, tmp_path / "x.csv", "test")
    # Plain string labels: sorted, as from files.
    import sft

    assert sft.load(tmp_path / "out" / "run" / "model").spec["labels"] == sorted(ORDER)


def load(folder, **kwargs) -> HFDatasetDataModule:
    module = HFDatasetDataModule(str(folder), **kwargs)
    module.load(SEQUENCE)
    return module


def test_label_features_settle_the_task(tmp_path):
    texts = [f"text {i}" for i in range(20)]
    tags = Features({"text": Value("string"), "label": List(ClassLabel(names=["z", "a", "m"]))})
    Dataset.from_dict(
        {"text": texts, "label": [[i % 3, (i + 1) % 3] for i in range(20)]}, features=tags
    ).save_to_disk(str(tmp_path / "tags"))
    tagged = load(tmp_path / "tags")
    assert tagged.labels.task == "multilabel" and tagged.labels.names == ["z", "a", "m"]
    assert tagged.targets["train"].shape[1] == 3
    assert tagged.targets["train"].sum(axis=1).tolist() == [2.0] * len(tagged.targets["train"])
    # Whole numbers in a float column: regression all the same (files would say multiclass).
    Dataset.from_dict({"text": texts, "label": [float(i % 4) for i in range(20)]}).save_to_disk(
        str(tmp_path / "scores")
    )
    assert load(tmp_path / "scores").labels.task == "regression"
    # A validation split by its usual name is used; none is carved.
    DatasetDict(
        {
            "train": Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(20)]}),
            "valid": Dataset.from_dict({"text": texts[:4], "label": [0, 1, 0, 1]}),
        }
    ).save_to_disk(str(tmp_path / "valid"))
    module = load(tmp_path / "valid")
    assert len(module.examples["train"]) == 20 and len(module.examples["val"]) == 4


def test_keys_a_dataset_lacks_are_named(tmp_path):
    Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}).save_to_disk(str(tmp_path / "one"))
    with pytest.raises(
        SFTConfigError,
        match=r"^data.splits.validation: no split 'dev' in .*"
        r"\(splits: train\)$",
    ):
        load(tmp_path / "one", splits={"validation": "dev"})
    with pytest.raises(
        SFTConfigError,
        match=r"^data.name=x: .* save_to_disk and has no "
        "configurations; set data.name=null$",
    ):
        load(tmp_path / "one", name="x")


def media_dataset(files: list, column: str, feature, names: list[str]) -> Dataset:
    """Files cast to an Image or Audio feature, labels to a ClassLabel of `names`."""
    return (
        Dataset.from_dict(
            {column: [str(f) for f in files], "label": [names.index(f.parent.name) for f in files]}
        )
        .cast_column(column, feature)
        .cast_column("label", ClassLabel(names=names))
    )


def train_media(model: str, model_dir, out, *data_overrides: str):
    from hydra import compose, initialize_config_dir

    from conftest import media_overrides
    from sft.cli import CONF_DIR

    overrides = media_overrides(model, model_dir, "hf_dataset", out) + list(data_overrides)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        train_task(compose(config_name="train", overrides=overrides))
    _, runs = mlflow_runs(out, "hf_dataset")
    return runs[0]


def served_labels(out, run, files) -> list[str]:
    """The registered model's labels for `files` (the paths a user would give it)."""
    mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
    served = mlflow.pyfunc.load_model(run.data.tags["sft.model_uri"])
    return [r["label"] for r in served.predict(pd.DataFrame({"text": [str(f) for f in files]}))]


def test_a_saved_image_dataset_trains_logs_and_predicts(tiny_vit_dir, shapes_data, tmp_path):
    from datasets import Image

    from helpers.backbones import write_shapes

    names = ["square", "ring", "cross"]  # not sorted: the ClassLabel's order is kept
    train = sorted(shapes_data["train"].rglob("*.png"))
    test = sorted(write_shapes(tmp_path / "test", per_class=8, seed=5).rglob("*.png"))
    folder = tmp_path / "saved"
    # save_to_disk embeds the bytes: the dataset no longer needs the files.
    DatasetDict(
        {
            "train": media_dataset(train, "image", Image(), names),
            "test": media_dataset(test, "image", Image(), names),
        }
    ).save_to_disk(str(folder))
    out = tmp_path / "out"
    run = train_media(
        "vit",
        tiny_vit_dir,
        out,
        f"data.path={folder}",
        "data.image_column=image",
        "data.val_fraction=0.2",
        "data.hflip=true",
    )
    assert run.info.status == "FINISHED" and run.data.metrics["test/acc"] > 0.8
    assert run.data.params["data.image_column"] == "image"
    media = list((out / "cache" / "hf_media").iterdir())
    assert len(media) == len(train) + len(test)  # each embedded image written once, as a file
    import sft

    assert sft.load(out / "run" / "model").spec["labels"] == names
    predicted = served_labels(out, run, test)
    accuracy = np.mean([p == f.parent.name for p, f in zip(predicted, test)])
    assert accuracy == pytest.approx(run.data.metrics["test/acc"])
    # sft-predict on the saved folder's test split: the embedded images, named as stored; the
    # one Image column is found without text_column=image.
    table = sft_predict(out / "run" / "model", folder, tmp_path / "preds.csv", "test")
    assert table["pred_label"].tolist() == predicted
    assert table["image"].tolist() == [f.name for f in test]
    assert table["label"].tolist() == [f.parent.name for f in test]


def test_an_audio_dataset_of_wav_and_flac_trains_logs_and_predicts(tiny_wav2vec2_dir, tmp_path):
    import soundfile
    from datasets import Audio

    from helpers.backbones import write_tones

    root = write_tones(tmp_path / "tones", per_class=24, seed=1)
    files = sorted(root.rglob("*.wav"))
    for wav in files[::2]:  # every other clip as FLAC: the same 16-bit samples
        samples, rate = soundfile.read(wav, dtype="int16")
        soundfile.write(wav.with_suffix(".flac"), samples, rate)
        wav.unlink()
    files = sorted(f for f in root.rglob("*") if f.is_file())
    assert {f.suffix for f in files} == {".wav", ".flac"}
    folder = tmp_path / "saved"
    media_dataset(files, "clip", Audio(decode=False), ["low", "high"]).save_to_disk(str(folder))
    out = tmp_path / "out"
    run = train_media(
        "wav2vec2",
        tiny_wav2vec2_dir,
        out,
        f"data.path={folder}",
        "data.audio_column=clip",
        "data.max_seconds=0.4",
        "data.val_fraction=0.2",
        "data.test_fraction=0.25",
    )
    assert run.info.status == "FINISHED" and run.data.metrics["test/acc"] > 0.8
    predicted = served_labels(out, run, files)
    assert np.mean([p == f.parent.name for p, f in zip(predicted, files)]) > 0.8


def test_a_folder_of_audio_files_gets_one_line_pointing_at_audio_folder(tmp_path):
    """datasets' audiofolder builder needs torchcodec, which sft does not install: one line
    naming data.path and the data=audio_folder way, not a traceback."""
    import soundfile

    from sft.data.hf_sources import open_dataset
    from sft.errors import SFTDataError

    for label in ("yes", "no"):
        (tmp_path / "train" / label).mkdir(parents=True)
        soundfile.write(tmp_path / "train" / label / "0.flac", np.zeros(800, np.float32), 16000)
    try:
        import torchcodec  # noqa: F401  (with it installed the builder works: nothing to test)

        pytest.skip("torchcodec is installed")
    except ImportError:
        pass
    with pytest.raises(
        SFTDataError,
        match=r"^data\.path: cannot build a dataset from .*"
        r"data=audio_folder data\.train_path=",
    ):
        open_dataset(str(tmp_path), None)


def test_a_validation_split_taken_by_test_is_carved_from_train_and_said(caplog):
    """data.splits.test=validation also took `validation` as the validation split (found by
    its name), so the model was tuned and tested on the same rows; now validation is carved
    from train (val_fraction) and one line says so. One split named for two keys is refused."""
    from sft.data.hf_sources import choose_splits

    dataset = {"train": None, "validation": None}
    with caplog.at_level("INFO", logger="sft.data.hf_sources"):
        chosen = choose_splits(dataset, {"train": "train", "test": "validation"}, "toy")
    assert chosen == {"train": "train", "test": "validation"}
    assert [r.getMessage() for r in caplog.records] == [
        "data.splits.test=validation takes the split 'validation', so the validation split "
        "is held out of train (data.val_fraction), not read from 'validation'"
    ]
    assert choose_splits(dataset, {}, "toy") == {"train": "train", "val": "validation"}
    with pytest.raises(SFTConfigError) as err:
        choose_splits(dataset, {"validation": "validation", "test": "validation"}, "toy")
    assert str(err.value) == (
        "data.splits.test: the split 'validation' is already data.splits.validation; "
        "one split cannot be two (null: held out of train)"
    )
