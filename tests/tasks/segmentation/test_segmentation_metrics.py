"""Mean IoU, per-class IoU and pixel accuracy against a hand computation: ignored pixels (255)
do not count, a class neither predicted nor present is NaN, the figure is the split's (not
an average of images), and it matches torchmetrics' MulticlassJaccardIndex with
ignore_index=255; logits become label maps at each target's size."""

from __future__ import annotations

import math

import pytest
import torch

from sft.tasks.segmentation.metrics import SegmentationMetrics, batch_predictions

# Two images, classes 0..3; class 3 appears nowhere. 255 = ignore.
TARGETS = [
    torch.tensor([[0, 0, 1], [1, 255, 2]]),
    torch.tensor([[2, 2], [255, 0]]),
]
PREDS = [
    torch.tensor([[0, 1, 1], [1, 3, 0]]),  # the 3 sits on an ignored pixel: it must not count
    torch.tensor([[2, 0], [1, 0]]),  # the 1 sits on an ignored pixel
]


def test_iou_and_accuracy_by_hand_with_ignored_pixels():
    metric = SegmentationMetrics(4)
    metric.update(PREDS, TARGETS)
    out = metric.compute()
    # Scored pixels (target != 255), row by row: image 1 t=[0,0,1,1,2] p=[0,1,1,1,0];
    # image 2 t=[2,2,0] p=[2,0,0]: 8 pixels, 5 right.
    # class 0: tp = 1 + 1 = 2, fp = 1 (img1 (1,2)) + 1 (img2 (0,1)) = 2, fn = 1 (img1 (0,1))
    # class 1: tp = 2, fp = 1 (img1 (0,1)), fn = 0
    # class 2: tp = 1 (img2 (0,0)), fp = 0, fn = 1 (img1 (1,2)) + 1 (img2 (0,1)) = 2
    expected = [2 / 5, 2 / 3, 1 / 3]
    assert out["iou"][:3].tolist() == pytest.approx(expected)
    assert math.isnan(out["iou"][3])  # class 3: only predicted on an ignored pixel
    assert out["mean_iou"].item() == pytest.approx(sum(expected) / 3)
    assert out["pixel_accuracy"].item() == pytest.approx(5 / 8)
    assert out["support"].tolist() == [3, 2, 3, 0]


def test_it_is_the_splits_iou_not_an_average_of_images():
    # Class 1: image a has 1 pixel, right; image b has 9, all wrong. Per image 1.0 and 0.0;
    # over the split 1 / 10.
    a_t, a_p = torch.tensor([[1]]), torch.tensor([[1]])
    b_t, b_p = torch.ones(3, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long)
    metric = SegmentationMetrics(2)
    metric.update([a_p, b_p], [a_t, b_t])
    assert metric.compute()["iou"][1].item() == pytest.approx(1 / 10)


def test_it_matches_torchmetrics_jaccard_with_ignore_index_and_resets():
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (4, 16, 16), generator=generator)
    target[target == 4] = 255
    preds = torch.randint(0, 4, (4, 16, 16), generator=generator)
    metric = SegmentationMetrics(4)
    metric.update(preds[:2], target[:2])
    metric.update(list(preds[2:]), list(target[2:]))
    out = metric.compute()
    jaccard = MulticlassJaccardIndex(4, average=None, ignore_index=255)(preds, target)
    accuracy = MulticlassAccuracy(4, average="micro", ignore_index=255)(preds, target)
    assert out["iou"].float().tolist() == pytest.approx(jaccard.tolist(), abs=1e-6)
    assert out["pixel_accuracy"].item() == pytest.approx(accuracy.item(), abs=1e-6)
    metric.reset()
    assert metric.matrix.sum() == 0


def test_deterministic_mode_needs_no_classes_squared_memory():
    """Under torch's deterministic algorithms (trainer.deterministic=true) the count stays
    linear in the pixels: 150 classes over 2 x 256 x 256 pixels would make torchmetrics'
    bincount fallback allocate 131k x 22,500 int64 (23 GB)."""
    target = torch.randint(0, 150, (2, 256, 256))
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        metric = SegmentationMetrics(150)
        metric.update(target, target)
        assert metric.compute()["pixel_accuracy"].item() == 1.0
    finally:
        torch.use_deterministic_algorithms(was)


def test_predictions_are_logits_upsampled_to_each_targets_size():
    class Out:
        logits = torch.zeros(2, 3, 4, 4)

    Out.logits[:, 2, :, 2:] = 5.0  # class 2 on the right half, class 0 elsewhere
    batch = {"targets": [torch.zeros(8, 8), torch.zeros(6, 12)]}
    maps = batch_predictions(Out, batch)
    assert [tuple(m.shape) for m in maps] == [(8, 8), (6, 12)]
    # Away from the boundary (bilinear blends the two columns beside it):
    assert maps[1][:, :4].eq(0).all() and maps[1][:, 7:].eq(2).all()
    assert maps[0][:, :3].eq(0).all() and maps[0][:, 5:].eq(2).all()
    assert maps[0].dtype == torch.long
