"""Augmentation keeps boxes valid and inside the image and repeats by seed; batches hold what
the model, the metrics and the pictures read, in the right shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.detection_scenes import random_scenes, write_coco_set
from sft.tasks.detection.collate import DetectionCollator, xywh_to_xyxy
from sft.tasks.detection.data import DetectionDataModule
from sft.tasks.detection.transforms import Augment, SceneDataset, load_rgb


@pytest.fixture(scope="module")
def processor(tiny_detr_dir):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(tiny_detr_dir)


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    scenes = random_scenes(12, seed=5, size=(80, 60), negatives=2)
    return write_coco_set(tmp_path_factory.mktemp("coco"), scenes)


def test_augmentation_keeps_boxes_inside_and_valid_and_repeats_by_seed(coco):
    module = DetectionDataModule("t", str(coco), val_fraction=0.1)
    module.load()
    records = module.examples["train"].records
    augment = Augment(hflip=True, crop=1.0, color_jitter=0.3)
    changed = 0
    for seed in range(20):
        for item in records:
            image = load_rgb(item["image"])
            out, boxes, labels, ids = augment(
                image, item["boxes"], item["labels"], item["ann_ids"], seed
            )
            height, width = out.shape[:2]
            assert out.dtype == np.uint8 and out.shape[2] == 3
            assert (boxes[:, 2] > 0).all() and (boxes[:, 3] > 0).all()
            assert (boxes[:, :2] >= 0).all()
            assert (boxes[:, 0] + boxes[:, 2] <= width + 1e-6).all()
            assert (boxes[:, 1] + boxes[:, 3] <= height + 1e-6).all()
            # The crop keeps every box: none is lost, labels and ids follow their boxes.
            assert labels.tolist() == item["labels"].tolist() and ids == item["ann_ids"]
            changed += out.shape != image.shape or not np.array_equal(out, image)
    assert changed > 0
    item = records[0]
    again = [
        augment(load_rgb(item["image"]), item["boxes"], item["labels"], item["ann_ids"], 7)
        for _ in range(2)
    ]
    assert np.array_equal(again[0][0], again[1][0])
    np.testing.assert_allclose(again[0][1], again[1][1])


def test_evaluation_splits_are_not_augmented(coco, processor):
    module = DetectionDataModule("t", str(coco), val_fraction=0.25)
    module.load()
    module.encode(processor, 0, None)
    assert module.datasets["train"].augment is not None
    assert module.datasets["val"].augment is None
    item, record = module.datasets["val"][0], module.examples["val"].records[0]
    assert item["image"].shape == (record["height"], record["width"], 3)
    np.testing.assert_allclose(item["boxes"], record["boxes"])
    off = DetectionDataModule("t", str(coco), augment=False)
    off.load()
    off.encode(processor, 0, None)
    assert off.datasets["train"].augment is None


def test_a_batch_holds_model_inputs_labels_targets_sizes_and_paths(coco, processor):
    module = DetectionDataModule("t", str(coco), val_fraction=0.25, eval_batch_size=3)
    module.load()
    module.encode(processor, 0, None)
    batch = next(iter(module.val_dataloader()))
    records = module.examples["val"].records[:3]
    # 80x60 images, resized to a longest edge of 64 pixels.
    assert batch["pixel_values"].shape == (3, 3, 48, 64)
    assert batch["pixel_values"].dtype == torch.float32
    assert batch["pixel_mask"].shape == (3, 48, 64) and batch["pixel_mask"].dtype == torch.long
    assert batch["target_sizes"].tolist() == [[60, 80]] * 3
    assert batch["paths"] == [r["image"] for r in records]
    for labels, target, record in zip(batch["labels"], batch["targets"], records):
        n = len(record["labels"])
        assert labels["class_labels"].tolist() == record["labels"].tolist()
        assert labels["boxes"].shape == (n, 4)
        assert ((labels["boxes"] >= 0) & (labels["boxes"] <= 1)).all()  # cxcywh in 0..1
        np.testing.assert_allclose(target["boxes"].numpy(), xywh_to_xyxy(record["boxes"]).numpy())
        assert target["labels"].tolist() == record["labels"].tolist()
    # cxcywh normalized by the image size: the first box's centre in pixels comes back.
    first = next(i for i, r in enumerate(records) if len(r["labels"]))
    x, y, w, h = records[first]["boxes"][0]
    cx, cy = batch["labels"][first]["boxes"][0, :2].tolist()
    assert cx * 80 == pytest.approx(x + w / 2, abs=0.01)
    assert cy * 60 == pytest.approx(y + h / 2, abs=0.01)


def test_images_of_different_sizes_are_padded_with_a_mask(processor):
    items = [
        {
            "image": np.zeros((40, 64, 3), np.uint8),
            "boxes": np.zeros((0, 4)),
            "labels": np.zeros(0, np.int64),
            "image_id": 1,
            "path": "a.png",
        },
        {
            "image": np.zeros((64, 32, 3), np.uint8),
            "boxes": np.array([[2.0, 2, 10, 10]]),
            "labels": np.array([1]),
            "image_id": 2,
            "path": "b.png",
        },
    ]
    batch = DetectionCollator(processor)(items)
    assert batch["pixel_values"].shape[0] == 2
    _, _, height, width = batch["pixel_values"].shape
    assert batch["pixel_mask"].shape == (2, height, width)
    assert batch["pixel_mask"][0].sum() < height * width  # the wide image is padded below
    assert batch["target_sizes"].tolist() == [[40, 64], [64, 32]]
    assert batch["labels"][0]["boxes"].shape == (0, 4)


def test_the_dataset_draws_the_same_augmentation_for_the_same_epoch(coco):
    module = DetectionDataModule("t", str(coco), crop=1.0)
    module.load()
    records = module.examples["train"].records
    first = SceneDataset(records, Augment(crop=1.0), seed=1)[2]
    second = SceneDataset(records, Augment(crop=1.0), seed=1)[2]
    assert np.array_equal(first["image"], second["image"])


def test_a_processor_without_a_pixel_mask_gives_a_batch_without_one(processor):
    """YOLOS's processor makes no pixel_mask and its model takes none: none is invented."""

    def no_mask(**kwargs):
        encoded = processor(**kwargs)
        del encoded["pixel_mask"]
        return encoded

    item = {
        "image": np.zeros((64, 64, 3), np.uint8),
        "boxes": np.array([[2.0, 2, 10, 10]]),
        "labels": np.array([0]),
        "image_id": 1,
        "path": "a.png",
    }
    batch = DetectionCollator(no_mask)([item])
    assert "pixel_mask" not in batch and batch["pixel_values"].shape == (1, 3, 64, 64)
