"""COCO box metrics on hand-made cases: perfect boxes, a box at IoU ~0.62, a wrong class, an
image without ground truth, a class missing from the split."""

from __future__ import annotations

import math

import pytest
import torch

from sft.tasks.detection.metrics import DetectionMAP


def pred(boxes, labels, scores=None):
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    scores = torch.ones(len(boxes)) * 0.9 if scores is None else torch.tensor(scores)
    return {"boxes": boxes, "scores": scores, "labels": torch.as_tensor(labels, dtype=torch.long)}


def truth(boxes, labels):
    return {
        "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.as_tensor(labels, dtype=torch.long),
    }


def scores(preds, targets, num_classes=3):
    metric = DetectionMAP(num_classes)
    metric.update(preds, targets)
    return metric.compute()


TRUE = [truth([[10, 10, 30, 30], [40, 40, 60, 62]], [0, 1]), truth([[5, 5, 25, 45]], [1])]


def test_perfect_predictions_score_one():
    found = scores([pred(t["boxes"], t["labels"]) for t in TRUE], TRUE)
    for name in ("map", "map_50", "map_75", "mar_100"):
        assert found[name].item() == pytest.approx(1.0), name
    assert found["map_per_class"][:2].tolist() == [1.0, 1.0]


def test_a_box_at_iou_062_counts_at_50_not_at_75():
    # [10,10,30,30] against [10,10,30,42.3]: 400 / 646 = 0.619
    found = scores([pred([[10, 10, 30, 42.3]], [0])], [truth([[10, 10, 30, 30]], [0])])
    assert found["map_50"].item() == pytest.approx(1.0)
    assert found["map_75"].item() == pytest.approx(0.0)
    # Matched at IoU 0.50, 0.55 and 0.60 of the ten thresholds 0.50:0.95.
    assert found["map"].item() == pytest.approx(0.3)


def test_a_wrong_class_scores_zero():
    found = scores([pred([[10, 10, 30, 30]], [2])], [truth([[10, 10, 30, 30]], [0])])
    assert found["map"].item() == 0.0 and found["map_50"].item() == 0.0
    assert found["mar_100"].item() == 0.0


def test_an_image_without_ground_truth_and_no_predictions_changes_nothing():
    empty_pred, empty_truth = pred([], []), truth([], [])
    found = scores(
        [pred(t["boxes"], t["labels"]) for t in TRUE] + [empty_pred], [*TRUE, empty_truth]
    )
    assert found["map"].item() == pytest.approx(1.0)
    # A box predicted on that empty image is a false positive ranked above the true ones.
    found = scores(
        [pred(t["boxes"], t["labels"], [0.5] * len(t["labels"])) for t in TRUE]
        + [pred([[1, 1, 9, 9]], [0], [0.99])],
        [*TRUE, empty_truth],
    )
    assert found["map"].item() < 1.0 and found["map_per_class"][1].item() == pytest.approx(1.0)


def test_a_class_without_ground_truth_is_nan_per_class():
    found = scores([pred(t["boxes"], t["labels"]) for t in TRUE], TRUE, num_classes=4)
    per_class = found["map_per_class"]
    assert per_class.shape == (4,)
    assert math.isnan(per_class[2].item()) and math.isnan(per_class[3].item())


def test_no_ground_truth_at_all_is_minus_one_as_cocoeval_says():
    found = scores([pred([[1, 1, 9, 9]], [0])], [truth([], [])])
    assert found["map"].item() == -1.0
    assert torch.isnan(found["map_per_class"]).all()


def test_states_add_up_over_updates_and_reset():
    metric = DetectionMAP(3)
    metric.update([pred(TRUE[0]["boxes"], TRUE[0]["labels"])], TRUE[:1])
    metric.update([pred([], [])], TRUE[1:])
    # Recall averaged over classes: class 0 found 1 of 1, class 1 found 1 of 2.
    assert metric.compute()["mar_100"].item() == pytest.approx(0.75)
    metric.reset()
    metric.update([pred(t["boxes"], t["labels"]) for t in TRUE], TRUE)
    assert metric.compute()["map"].item() == pytest.approx(1.0)
