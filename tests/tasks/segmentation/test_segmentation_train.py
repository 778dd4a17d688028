"""End to end on the tiny SegFormer: segmentation trains (the loss falls), logs mean IoU,
pixel accuracy and per-class IoU to MLflow with pictures of predicted masks, registers a
model that `sft.load`, `sft-predict` (RLE records and PNG masks) and `sft-serve` answer
alike, and refuses what does not apply in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import sft
from conftest import mlflow_runs, run_sft
from helpers.mask_scenes import SEGMENTATION_LABELS, write_mask_folder
from sft.tasks.segmentation.rle import decode_rle


def overrides(model_dir, folder, out) -> list[str]:
    return [
        "model=segformer",
        f"model.name_or_path={model_dir}",
        "data=masks",
        f"data.train_path={folder / 'train'}",
        f"data.test_path={folder / 'test'}",
        "data.val_fraction=0.25",
        "data.pictures=3",
        "optimizer.lr=5e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=4",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tiny_segformer_dir, tmp_path_factory):
    """One real run of the config tree: data=masks on the tiny SegFormer (40 train scenes,
    64x64 and 48x64)."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    folder = tmp_path_factory.mktemp("scenes")
    write_mask_folder(folder / "train", 40, seed=1, ignore_border=True)
    write_mask_folder(folder / "test", 6, seed=2)
    out = tmp_path_factory.mktemp("segmentation-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(tiny_segformer_dir, folder, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "masks")
    images = sorted(str(p) for p in (folder / "test" / "images").iterdir())
    return {"out": out, "best": best, "client": client, "run": runs[0], "images": images}


def test_it_trains_and_logs_iou_metrics_and_pictures(trained):
    client, run = trained["client"], trained["run"]
    run_id = run.info.run_id
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss_epoch")]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    metrics = run.data.metrics
    for key in ("val/mean_iou", "val/pixel_accuracy", "test/mean_iou", "test/pixel_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert "test/per_class/iou/background" in metrics
    assert metrics["test/pixel_accuracy"] > 0.5  # background alone covers most pixels
    history = client.get_metric_history(run_id, "val/mean_iou")
    assert trained["best"] == pytest.approx(max(m.value for m in history))
    assert run.data.tags["sft.task"] == "segmentation"
    pictures = [a.path for a in client.list_artifacts(run_id, "pictures/test")]
    assert len(pictures) == 3 and all(p.endswith(".png") for p in pictures)
    picture = Image.open(trained["out"] / "run" / pictures[0])
    assert picture.width == 2 * 64 * 4  # prediction beside ground truth, enlarged 4x
    report = (trained["out"] / "run" / "per_class_report.md").read_text()
    assert all(name in report for name in SEGMENTATION_LABELS)


def test_saved_model_predicts_masks_at_each_images_size(trained):
    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "segmentation" and spec["labels"] == SEGMENTATION_LABELS
    assert spec["auto_class"] == "AutoModelForSemanticSegmentation"
    records = sft.load(model_dir).predict(trained["images"][:2])
    for record, path in zip(records, trained["images"]):
        width, height = Image.open(path).size
        label_map = decode_rle(record["mask"])
        assert label_map.shape == (height, width)
        assert set(np.unique(label_map)) <= {0, 1, 2, 3}
        assert sum(record["shares"].values()) == pytest.approx(1.0)
        assert record["shares"]["background"] == pytest.approx(np.mean(label_map == 0))


def test_registered_model_predicts_pngs_and_serves_the_same_masks(trained, tmp_path):
    """The registered version (models:/...) through sft-predict (JSON lines and PNG masks) and
    sft-serve (an HTTP request with image paths and a base64 image): the same masks as
    sft.load."""
    import base64
    import os
    import sys
    from pathlib import Path

    from conftest import PROJECT_ROOT
    from helpers.servers import free_port, serve_and_ask

    uri = trained["run"].data.tags["sft.model_uri"]
    assert uri.startswith("models:/"), uri
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    images = trained["images"][:3]
    expected = sft.load(trained["out"] / "run" / "model").predict(images)
    (tmp_path / "in.csv").write_text("text\n" + "".join(f"{p}\n" for p in images))
    done = run_sft(
        "predict",
        f"model_uri={uri}",
        tracking,
        "input=in.csv",
        "output=out.jsonl",
        "masks_dir=masks",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    for row, record, path in zip(rows, expected, images):
        assert row["pred_mask"] == record["mask"]  # the RLE whole, as sft.load gives it
        # pandas writes JSON numbers to 10 significant places
        assert row["pred_shares_background"] == pytest.approx(record["shares"]["background"])
        png = np.asarray(Image.open(tmp_path / "masks" / f"{path.rsplit('/', 1)[1][:-4]}.png"))
        assert (png == decode_rle(record["mask"])).all()

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [sys.executable, "-m", "sft.serve", f"model_uri={uri}", tracking, f"port={port}"]
    encoded = base64.b64encode(Path(images[0]).read_bytes()).decode()  # an image sent inline
    answer = serve_and_ask(argv, port, [*images, encoded], tmp_path, env)
    assert answer["predictions"] == [*expected, expected[0]]


def test_cross_validation_is_refused_in_one_line(tiny_segformer_dir, tmp_path):
    write_mask_folder(tmp_path / "train", 4, seed=0)
    write_mask_folder(tmp_path / "test", 2, seed=1)
    args = [*overrides(tiny_segformer_dir, tmp_path, tmp_path / "out"), "cv.folds=3"]
    done = run_sft("train", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("cv.folds=3: task 'segmentation' does not support cv (it supports: none of them)")
    )


def test_folder_export_checks_pixel_logits_and_masks_and_onnx_is_refused(trained, tmp_path):
    """sft-export format=folder of the registered model: parity on every output pixel's
    logits, agreement on the masks of the run's val images (its data read again)."""
    uri = trained["run"].data.tags["sft.model_uri"]
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    done = run_sft("export", f"model_uri={uri}", tracking, f"out={tmp_path / 'copy'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Agreement on 10 inputs (the val split of run" in done.stdout, done.stdout
    assert "1.0000 of predicted labels" in done.stdout
    images = trained["images"][:2]
    assert sft.load(tmp_path / "copy").predict(images) == sft.load(
        trained["out"] / "run" / "model"
    ).predict(images)
    onnx = run_sft("export", f"model_uri={uri}", tracking, "out=x", "format=onnx", cwd=tmp_path)
    assert onnx.returncode == 2
    assert (
        onnx.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "format=onnx: task 'segmentation' does not support onnx export (export format=folder)"
        )
    )


def test_the_loaded_model_trains_in_train_mode(tiny_segformer_dir):
    """from_pretrained returns eval mode; fine-tuning needs dropout, drop-path and the decode
    head's BatchNorm in train mode (Lightning keeps each module's mode)."""
    from sft.model.task_model import load_task_model

    model = load_task_model(
        "AutoModelForSemanticSegmentation", str(tiny_segformer_dir), SEGMENTATION_LABELS
    )
    assert all(module.training for module in model.modules())
