"""End to end on the tiny Conditional DETR: detection trains (its loss falls), logs COCO
metrics (summaries and per class) and pictures to MLflow, registers a model that `sft.load`,
sft-predict and the served MLflow model turn into boxes inside the image."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from conftest import mlflow_runs, run_sft
from helpers.detection_scenes import random_scenes, write_coco_set

NAMES = {"red", "green", "blue"}


def overrides(model_dir, folder, out) -> list[str]:
    return [
        "model=conditional_detr",
        f"model.name_or_path={model_dir}",
        "data=coco",
        f"data.train_path={folder / 'train' / 'instances.json'}",
        f"data.test_path={folder / 'test' / 'instances.json'}",
        "data.val_fraction=0.25",
        "data.batch_size=4",
        "data.pictures=2",
        # Every box of the untrained-for-long model is reported: their places are checked.
        "data.threshold=0.01",
        "optimizer.lr=1e-3",
        "trainer.max_epochs=4",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tiny_detr_dir, tmp_path_factory):
    """One real run of the config tree: data=coco on the tiny detector, 64 px scenes."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    folder = tmp_path_factory.mktemp("scenes")
    write_coco_set(folder / "train", random_scenes(24, seed=1, negatives=2))
    write_coco_set(folder / "test", random_scenes(8, seed=2, negatives=1))
    out = tmp_path_factory.mktemp("detection-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(tiny_detr_dir, folder, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "coco")
    return {"out": out, "best": best, "client": client, "run": runs[0], "folder": folder}


def test_it_trains_and_logs_coco_metrics_per_class_and_pictures(trained):
    client, run = trained["client"], trained["run"]
    losses = [m.value for m in client.get_metric_history(run.info.run_id, "train/loss_epoch")]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    metrics = run.data.metrics
    for stage in ("val", "test"):
        for name in ("map", "map_50", "map_75", "mar_100", "loss"):
            assert f"{stage}/{name}" in metrics, (stage, name)
        for name in NAMES:
            assert 0 <= metrics[f"{stage}/per_class/map/{name}"] <= 1
    assert run.data.tags["sft.task"] == "detection"
    assert trained["best"] == pytest.approx(
        max(m.value for m in client.get_metric_history(run.info.run_id, "val/map"))
    )
    pictures = [a.path for a in client.list_artifacts(run.info.run_id, "pictures/test")]
    assert len(pictures) == 2
    report = json.loads((trained["out"] / "run" / "data_report.json").read_text())
    assert report["splits"]["test"]["labels"]["(images without boxes)"] == 1
    picture = Image.open(trained["out"] / "run" / pictures[0])
    assert picture.size == (2 * 256, 256)  # 64 px scenes, enlarged 4x, side by side


def test_saved_model_predicts_boxes_inside_the_image(trained):
    import sft

    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "detection" and spec["auto_class"] == "AutoModelForObjectDetection"
    assert spec["labels"] == ["red", "green", "blue"] and spec["threshold"] == 0.01
    image = trained["folder"] / "test" / "img000.png"
    records = sft.load(model_dir).predict([str(image)])
    boxes = records[0]["boxes"]
    assert boxes, records
    for found in boxes:
        x0, y0, x1, y1 = found["box"]
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 64, found
        assert found["label"] in NAMES and 0 <= found["score"] <= 1


def test_registered_model_predicts_a_table_and_serves_boxes_over_http(trained, tmp_path):
    """The registered version (models:/...) through sft-predict (a folder of images in, a
    JSONL with boxes out) and sft-serve (an image path and base64 bytes in, boxes out)."""
    import os
    import sys

    from conftest import PROJECT_ROOT
    from helpers.servers import free_port, serve_and_ask

    uri = trained["run"].data.tags["sft.model_uri"]
    assert uri.startswith("models:/"), uri
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    images = trained["folder"] / "test"
    done = run_sft(
        "predict",
        f"model_uri={uri}",
        tracking,
        f"input={images}",
        "output=out.jsonl",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(row["pred_boxes"] for row in rows)

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [sys.executable, "-m", "sft.serve", f"model_uri={uri}", tracking, f"port={port}"]
    path = images / "img001.png"
    encoded = base64.b64encode(path.read_bytes()).decode()
    answer = serve_and_ask(argv, port, [str(path), encoded], tmp_path, env)
    first, second = answer["predictions"]
    assert first == second and first["boxes"]
    for found in first["boxes"]:
        x0, y0, x1, y1 = found["box"]
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 64 and found["label"] in NAMES


def test_folder_export_checks_box_outputs_and_boxes_and_onnx_is_refused(trained, tmp_path):
    """sft-export format=folder of the registered model (what the ONNX refusal and the
    model card point to): parity on every query's class logits and box, agreement on the
    boxes of the run's images; the copy predicts the same boxes."""
    import sft

    uri = trained["run"].data.tags["sft.model_uri"]
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    done = run_sft("export", f"model_uri={uri}", tracking, f"out={tmp_path / 'copy'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Agreement on" in done.stdout and "1.0000 of predicted" in done.stdout, done.stdout
    images = sorted(str(p) for p in (trained["folder"] / "test").rglob("*.png"))[:2]
    copy, original = sft.load(tmp_path / "copy"), sft.load(trained["out"] / "run" / "model")
    assert copy.predict(images) == original.predict(images)
    onnx = run_sft("export", f"model_uri={uri}", tracking, "out=x", "format=onnx", cwd=tmp_path)
    assert onnx.returncode == 2
    assert (
        onnx.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "format=onnx: task 'detection' does not support onnx export (export format=folder)"
        )
    )


def test_a_box_outside_its_image_stops_sft_train_with_one_line(tiny_detr_dir, tmp_path):
    path = write_coco_set(tmp_path / "train", random_scenes(4, seed=3))
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"] = [50, 2, 30, 10]
    path.write_text(json.dumps(data))
    write_coco_set(tmp_path / "test", random_scenes(2, seed=4))
    done = run_sft("train", *overrides(tiny_detr_dir, tmp_path, tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith(
        f"{path} annotation 1 (image 1): bbox [50, 2, 30, 10] reaches 16 px outside the "
        f"64x64 image (up to 1 px is clipped)"
    ), lines[-3:]
