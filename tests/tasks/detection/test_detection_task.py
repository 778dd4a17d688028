"""What generic code asks of the detection task: post-processed boxes stay inside the image,
pictures have the expected size, predictions become records from the model's threshold,
options that do not apply are refused in one line."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from helpers.detection_scenes import paint_scene
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks import get_task
from sft.tasks.detection import DETECTION
from sft.tasks.detection.draw import scale_for

NAMES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def detector(tiny_detr_dir):
    from transformers import AutoImageProcessor, AutoModelForObjectDetection

    folder = tiny_detr_dir
    net = AutoModelForObjectDetection.from_pretrained(folder).eval()
    return AutoImageProcessor.from_pretrained(folder), net


def test_registered_with_the_task_model_members():
    assert (
        get_task("detection") is DETECTION and DETECTION.family.settle("auto", None) == "detection"
    )
    assert DETECTION.monitor == ("val/map", "max") and "map_50" in DETECTION.metrics
    assert DETECTION.auto_class == "AutoModelForObjectDetection"
    assert DETECTION.model_inputs == ("pixel_values", "pixel_mask")
    assert DETECTION.pipeline_tags == {"image": "object-detection"}
    assert DETECTION.features == frozenset() and not DETECTION.supports("onnx")
    assert DETECTION.id2label(NAMES) == {0: "red", 1: "green", 2: "blue"}
    assert DETECTION.model_spec(SimpleNamespace(threshold=0.3)) == {"threshold": 0.3}


def test_options_that_do_not_apply_are_refused_in_one_line():
    cfg = OmegaConf.create({"data": {"standardize": True}})
    with pytest.raises(SFTConfigError, match=r"standardize=true applies to regression"):
        DETECTION.check_options(cfg)
    cfg.data.standardize = False
    DETECTION.check_options(cfg)
    assert not DETECTION.supports("onnx")  # sft-export format=onnx is refused from this


def test_batch_predictions_are_pixel_boxes_inside_each_image(detector):
    processor, net = detector
    sizes = torch.tensor([[60, 80], [100, 40]])
    with torch.no_grad():
        outputs = net(pixel_values=torch.randn(2, 3, 64, 64), pixel_mask=torch.ones(2, 64, 64))
    preds = DETECTION.batch_predictions(outputs, {"target_sizes": sizes}, processor)
    assert len(preds) == 2
    for pred, (height, width) in zip(preds, sizes.tolist()):
        boxes = pred["boxes"]
        assert boxes.shape[1] == 4 and len(boxes) == len(pred["scores"]) == len(pred["labels"])
        assert len(boxes) > 0  # threshold 0: every box ranks for mAP
        assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= width).all()
        assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= height).all()
        assert ((pred["labels"] >= 0) & (pred["labels"] < 3)).all()


def test_draw_puts_prediction_beside_ground_truth(tmp_path):
    path = paint_scene(tmp_path / "a.png", (80, 60), [[10, 10, 20, 20]], ["red"])
    pred = {
        "boxes": torch.tensor([[10.0, 10, 30, 30], [0, 0, 5, 5]]),
        "scores": torch.tensor([0.9, 0.1]),
        "labels": torch.tensor([0, 2]),
    }
    target = {"boxes": torch.tensor([[10.0, 10, 30, 30]]), "labels": torch.tensor([0])}
    picture = DETECTION.draw(str(path), pred, target, NAMES)
    s = scale_for(80, 60)
    assert s == 5 and picture.size == (2 * 80 * s, 60 * s)
    # The true box's outline in red on the right half; the left half has the predicted one.
    assert picture.getpixel((80 * s + 10 * s, 20 * s)) == (230, 25, 75)
    assert picture.getpixel((10 * s, 20 * s)) == (230, 25, 75)
    big = paint_scene(tmp_path / "b.png", (400, 300), [], [])
    assert DETECTION.draw(str(big), pred, target, NAMES).size == (800, 300)


def test_predict_gives_boxes_from_the_threshold_for_paths_and_base64(tmp_path, detector):
    processor, net = detector
    path = paint_scene(tmp_path / "a.png", (80, 60), [[10, 10, 20, 20]], ["red"])
    predictor = SimpleNamespace(
        tokenizer=processor,
        runner=SimpleNamespace(net=net),
        spec={"threshold": 0.0, "labels": NAMES},
    )
    encoded = base64.b64encode(path.read_bytes()).decode()
    records = DETECTION.predict(predictor, [str(path), encoded], batch_size=1)
    assert len(records) == 2 and records[0] == records[1]
    boxes = records[0]["boxes"]
    assert boxes and [b["score"] for b in boxes] == sorted(
        (b["score"] for b in boxes), reverse=True
    )
    for b in boxes:
        x0, y0, x1, y1 = b["box"]
        assert 0 <= x0 <= x1 <= 80 and 0 <= y0 <= y1 <= 60
        assert b["label"] in NAMES
    predictor.spec["threshold"] = 1.0  # a sigmoid score never reaches 1: no box
    assert DETECTION.predict(predictor, [str(path)]) == [{"boxes": []}]
    with pytest.raises(SFTDataError, match="input 2: neither an image file nor base64"):
        DETECTION.predict(predictor, [str(path), "not-a-file.png"])
    assert DETECTION.decision(records[0])[0][0] == boxes[0]["label"]


def test_epoch_values_give_summaries_and_a_per_class_report():
    metric = DETECTION.summary_metrics(3)
    box = torch.tensor([[1.0, 1, 9, 9]])
    metric.update(
        [{"boxes": box, "scores": torch.tensor([0.8]), "labels": torch.tensor([1])}],
        [{"boxes": box, "labels": torch.tensor([1])}],
    )
    values, report = DETECTION.epoch_values(metric, DETECTION.per_class_metrics(3))
    assert set(values) == set(DETECTION.metrics) and values["map"].item() == pytest.approx(1.0)
    assert report["measure"] == "map" and report["present"].tolist() == [False, True, False]
    assert report["values"][1].item() == pytest.approx(1.0)


def test_features_it_lacks_are_refused_in_one_line():
    from sft.tasks.checks import check_features

    cfg = OmegaConf.create({"cv": {"folds": 3}})
    with pytest.raises(
        SFTConfigError,
        match=r"^cv\.folds=3: task 'detection' does not support cv \(it supports: none of them\)$",
    ):
        check_features(cfg, DETECTION)
