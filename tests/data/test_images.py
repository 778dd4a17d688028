"""Image classification: image_folder and digits data, ViT and ResNet backbones through their
image processors, augmentation; a run learns, logs to MLflow and predicts through the logged
model, `sft.load` and `sft-predict`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import sft
from conftest import media_overrides, mlflow_runs, run_sft
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.sequence import SEQUENCE
from sft.train import train_task


def compose_train(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture(scope="module")
def vit_run(tiny_vit_dir, shapes_data, tmp_path_factory):
    """model=vit on a folder per class (train) and a CSV of relative paths (test),
    with flips and crops."""
    out = tmp_path_factory.mktemp("vit-run")
    cfg = compose_train(
        media_overrides("vit", tiny_vit_dir, "image_folder", out)
        + [
            f"data.train_path={shapes_data['train']}",
            f"data.test_path={shapes_data['test']}",
            "data.val_fraction=0.2",
            "data.hflip=true",
            "data.crop_scale=0.8",
        ]
    )
    train_task(cfg)
    client, runs = mlflow_runs(out, "image_folder")
    return {"out": out, "client": client, "run": runs[0], "model_dir": out / "run" / "model"}


def test_vit_learns_shapes_and_logs_like_text(vit_run):
    run = vit_run["run"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] > 0.8  # chance is 1/3
    assert {
        "test/per_class/f1/square",
        "test/per_class/f1/cross",
        "test/per_class/f1/ring",
        "val/f1_macro",
        "perf/train_samples_per_s",
    } <= set(run.data.metrics)
    assert run.data.params["data.hflip"] == "True" and run.data.params["model.pooling"] == "cls"
    artifacts = {a.path for a in vit_run["client"].list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "per_class_report.csv", "test_metrics.json"} <= artifacts
    assert run.data.tags["sft.data.train_sha256"] and run.data.tags["sft.data.test_sha256"]


def test_vit_predicts_through_load_the_mlflow_model_and_sft_predict(vit_run, shapes_data, tmp_path):
    table = pd.read_csv(shapes_data["test"])
    paths = [str(shapes_data["test"].parent / p) for p in table["path"]]
    predictor = sft.load(vit_run["model_dir"])
    assert predictor.spec["modality"] == "image" and predictor.spec["pooling"] == "cls"
    records = predictor.predict(paths, batch_size=7)
    accuracy = np.mean([r["label"] == g for r, g in zip(records, table["label"])])
    assert accuracy > 0.8
    mlflow.set_tracking_uri(f"sqlite:///{vit_run['out']}/mlflow.db")
    served = mlflow.pyfunc.load_model(f"runs:/{vit_run['run'].info.run_id}/model")
    from_mlflow = served.predict(pd.DataFrame({"text": paths[:6]}))
    np.testing.assert_allclose(
        [r["probabilities"]["ring"] for r in from_mlflow],
        [r["probabilities"]["ring"] for r in records[:6]],
        atol=1e-5,
    )
    registered = mlflow.pyfunc.load_model(vit_run["run"].data.tags["sft.model_uri"])
    assert [r["label"] for r in registered.predict(pd.DataFrame({"text": paths}))] == [
        r["label"] for r in records
    ]
    # a plain list of paths, as the REST server's {"inputs": [...]} (MLflow refused a list)
    assert [r["label"] for r in registered.predict(paths)] == [r["label"] for r in records]
    inputs = {i.dataset.name for i in vit_run["run"].inputs.dataset_inputs}
    assert {"image_folder-train", "image_folder-test"} <= inputs, inputs
    # sft-predict: the test CSV (relative paths), and a folder of images.
    result = run_sft(
        "predict",
        f"model_uri={vit_run['model_dir']}",
        f"input={shapes_data['test']}",
        "text_column=path",
        f"output={tmp_path / 'preds.csv'}",
        "progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(tmp_path / "preds.csv")
    assert written["pred_label"].tolist() == [r["label"] for r in records]
    # A folder as the input: every image below it, in the path column (in process: quicker).
    from omegaconf import OmegaConf

    from sft.predict import predict_task

    predict_task(
        OmegaConf.create(
            {
                "model_uri": str(vit_run["model_dir"]),
                "input": str(shapes_data["test_dir"] / "ring"),
                "output": str(tmp_path / "rings.csv"),
                "text_column": "path",
                "batch_size": 4,
                "progress": False,
                "backend": "auto",
                "tracking_uri": "sqlite:///unused.db",
            }
        )
    )
    rings = pd.read_csv(tmp_path / "rings.csv")
    assert len(rings) == 10 and (rings["pred_label"] == "ring").mean() > 0.7


def test_resnet_learns_shapes(tiny_resnet_dir, shapes_data, tmp_path):
    cfg = compose_train(
        media_overrides("resnet", tiny_resnet_dir, "image_folder", tmp_path)
        + [
            f"data.train_path={shapes_data['train']}",
            f"data.test_path={shapes_data['test']}",
            "data.val_fraction=0.2",
            "logger=none",
            "trainer.max_epochs=6",
        ]
    )
    train_task(cfg)
    predictor = sft.load(tmp_path / "run" / "model")
    table = pd.read_csv(shapes_data["test"])
    records = predictor.predict([str(shapes_data["test"].parent / p) for p in table["path"]])
    assert np.mean([r["label"] == g for r, g in zip(records, table["label"])]) > 0.6


def test_digits_are_written_once_split_and_subset(tmp_path):
    from sft.data import DigitsDataModule

    data = DigitsDataModule(
        "digits",
        root=str(tmp_path),
        size=16,
        digits=[5, 6, 7, 8, 9],
        val_fraction=0.1,
        test_fraction=0.2,
        task="multiclass",
    )
    labels = data.load(SEQUENCE)
    assert labels.names == ["5", "6", "7", "8", "9"]
    sizes = {split: len(e) for split, e in data.examples.items()}
    from sklearn.datasets import load_digits

    total = int(np.isin(load_digits().target, [5, 6, 7, 8, 9]).sum())
    assert sum(sizes.values()) == total and sizes["test"] == int(np.ceil(0.2 * total))
    from PIL import Image

    with Image.open(data.examples["test"].texts[0]) as image:
        assert image.size == (16, 16)
    folder = next(tmp_path.iterdir())
    stamp = (folder / ".complete").stat().st_mtime_ns
    DigitsDataModule("digits", root=str(tmp_path), size=16, digits=[5, 6, 7, 8, 9]).load(SEQUENCE)
    assert (folder / ".complete").stat().st_mtime_ns == stamp  # not written again
    with pytest.raises(SFTDataError, match=r"data.digits: \[11\]"):
        DigitsDataModule("digits", root=str(tmp_path), digits=[3, 11]).load(SEQUENCE)


def test_digits_of_the_scenes_train_block_only_hold_no_scene_val_or_test_digit(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    from sft.data import DigitsDataModule
    from sft.data.digit_scenes import block_indices

    data = DigitsDataModule(
        "digits", root=str(tmp_path), size=8, samples="scenes_train", test_fraction=0.0
    )
    data.load(SEQUENCE)
    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    written = {
        np.asarray(Image.open(p)).tobytes() for split in data.examples.values() for p in split.texts
    }
    everything = list(range(10))
    train = {pixels[i].tobytes() for i in block_indices(digits.target, everything, "train")}
    held_out = {
        pixels[i].tobytes()
        for split in ("val", "test")
        for i in block_indices(digits.target, everything, split)
    }
    assert written <= train and not written & held_out
    assert len(written) > 0.45 * len(digits.target)
    with pytest.raises(SFTConfigError, match=r"data\.samples=some: must be one of"):
        DigitsDataModule("digits", root=str(tmp_path), samples="some")


def test_augmentation_is_seeded_and_off_for_evaluation(tiny_vit_dir, shapes_data):
    from sft.data.media import ImageFeaturizer, load_processor

    processor = load_processor(str(tiny_vit_dir), "image")
    path = str(next((shapes_data["train"] / "cross").iterdir()))
    plain = ImageFeaturizer(processor)([path])["pixel_values"]
    flips = ImageFeaturizer(processor, hflip=True)
    seen = [flips([path], np.random.default_rng(s))["pixel_values"] for s in range(8)]
    mirrored = plain[..., ::-1]
    assert any(np.allclose(x, mirrored) for x in seen) and any(np.allclose(x, plain) for x in seen)
    crop = ImageFeaturizer(processor, crop_scale=0.5)
    a, b = (crop([path], np.random.default_rng(3))["pixel_values"] for _ in range(2))
    np.testing.assert_array_equal(a, b)  # same seed, same crop
    assert not np.allclose(a, plain)
    assert np.allclose(flips([path])["pixel_values"], plain)  # no rng: no augmentation
    raw = ImageFeaturizer(processor, normalize=False)([path])["pixel_values"]
    assert raw.min() >= 0.0 and raw.max() <= 1.0  # rescaled only


def test_decoded_images_are_cached_on_disk_and_augmented_after(tiny_vit_dir, shapes_data, tmp_path):
    from types import SimpleNamespace

    from sft import cache
    from sft.data.media import ImageFeaturizer, load_processor
    from sft.data.media_cache import DecodedBases, media_bases
    from sft.data.media_module import MediaDataset

    processor = load_processor(str(tiny_vit_dir), "image")
    import shutil

    (tmp_path / "rings").mkdir()  # copies: one is changed below
    paths = [
        shutil.copy(p, tmp_path / "rings")
        for p in sorted((shapes_data["train"] / "ring").iterdir())[:6]
    ]
    plain = ImageFeaturizer(processor)
    cache.clear()
    bases = media_bases(paths, plain, tmp_path)
    assert isinstance(bases, DecodedBases) and cache.STATS["media.decoded"] == 1
    assert len(list((tmp_path / "media").glob("*.arrow"))) == 1
    cache.clear()  # a new process: read from disk, not decoded again
    again = media_bases(paths, plain, tmp_path)
    assert cache.STATS["media.disk_hit"] == 1 and "media.decoded" not in cache.STATS
    # The cached base featurizes exactly as the file does (prediction reads files).
    np.testing.assert_array_equal(
        plain.from_base([again[2]])["pixel_values"], plain([paths[2]])["pixel_values"]
    )
    # Augmentation runs after the cache: it differs per epoch, is fixed by seed and epoch.
    flips = ImageFeaturizer(processor, hflip=True, crop_scale=0.5)
    data = MediaDataset(again, np.zeros(len(paths), dtype=np.int64), flips, augment=True)

    def epoch(number):
        data.sampler = SimpleNamespace(epoch=number)
        return np.stack([data[i][0]["pixel_values"] for i in range(len(paths))])

    assert not np.allclose(epoch(0), epoch(1))
    np.testing.assert_array_equal(epoch(1), epoch(1))
    # A file that changes gets a new entry.
    Path(paths[0]).write_bytes(Path(paths[1]).read_bytes())
    cache.clear()
    media_bases(paths, plain, tmp_path)
    assert cache.STATS["media.decoded"] == 1
    assert len(list((tmp_path / "media").glob("*.arrow"))) == 2


def test_a_class_is_its_top_folder_and_a_metadata_table_names_the_files(tmp_path):
    from helpers.backbones import shape_image
    from sft.data import ImageFolderDataModule

    rng = np.random.default_rng(0)
    for name in ("ring/a.png", "ring/old/b.png", "cross/c.png", "cross/more/deeper/d.png"):
        (tmp_path / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        shape_image(name.split("/")[0], rng).save(tmp_path / "tree" / name)
    module = ImageFolderDataModule("image_folder", str(tmp_path / "tree"), val_fraction=0.0)
    module.load(SEQUENCE)
    # Nested folders stay in their top folder's class (datasets' imagefolder would make
    # "old", "more"... classes, or drop the labels: sft.data.media_module._read_folder).
    assert module.labels.names == ["cross", "ring"]
    assert sorted(Path(p).name for p in module.examples["train"].texts) == [
        "a.png",
        "b.png",
        "c.png",
        "d.png",
    ]
    # The builders' metadata table in the folder: file_name (relative to it) and label.
    pd.DataFrame(
        {
            "file_name": ["ring/a.png", "cross/c.png", "cross/more/deeper/d.png"],
            "label": ["round", "plus", "plus"],
        }
    ).to_json(tmp_path / "tree" / "metadata.jsonl", orient="records", lines=True)
    module = ImageFolderDataModule("image_folder", str(tmp_path / "tree"), val_fraction=0.0)
    module.load(SEQUENCE)
    assert module.labels.names == ["plus", "round"] and len(module.examples["train"]) == 3
    assert module.examples["train"].texts[0] == str((tmp_path / "tree/ring/a.png").resolve())


def test_bad_image_data_fails_with_one_line_naming_the_place(tmp_path, shapes_data):
    from sft.data import ImageFolderDataModule

    table = tmp_path / "bad.csv"
    pd.DataFrame({"path": ["a.png", "missing.png"], "label": ["x", "y"]}).to_csv(table, index=False)
    from helpers.backbones import shape_image

    shape_image("ring", np.random.default_rng(0)).save(tmp_path / "a.png")
    with pytest.raises(SFTDataError, match=r"bad.csv row 2: file not found in column 'path'"):
        ImageFolderDataModule("image_folder", str(table)).load(SEQUENCE)
    (tmp_path / "tree" / "cat").mkdir(parents=True)
    with pytest.raises(SFTDataError, match=r"class folder .*cat holds no"):
        ImageFolderDataModule("image_folder", str(tmp_path / "tree")).load(SEQUENCE)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dog").mkdir()
    (tmp_path / "broken" / "dog" / "x.png").write_text("not an image")
    from sft.data.media import load_image

    with pytest.raises(SFTDataError, match=r"x.png: not a readable image"):
        load_image(str(tmp_path / "broken" / "dog" / "x.png"))


def test_image_data_with_a_text_model_names_the_fix(tiny_model_dir):
    """The default (text) model with image data: one short line saying an image model is
    needed, not transformers' paragraph about the hub."""
    from sft.data.media import load_processor
    from sft.errors import SFTConfigError

    with pytest.raises(
        SFTConfigError,
        match=r"^model\.name_or_path: '.*' has no image processor "
        r".*image data needs an image model, e\.g\. "
        r"model=vit$",
    ):
        load_processor(str(tiny_model_dir), "image")
