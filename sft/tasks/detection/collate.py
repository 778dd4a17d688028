"""Batches of images with boxes: the model's own image processor resizes, normalizes and pads
them and turns the COCO boxes into what the model's loss takes; the batch also keeps the
boxes in image pixels for the metrics, the image sizes and the files."""

from __future__ import annotations

import numpy as np
import torch


def xywh_to_xyxy(boxes) -> torch.Tensor:
    """COCO [n,4] (x, y, width, height) -> [n,4] (x0, y0, x1, y1), float32."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def coco_annotations(item: dict) -> dict:
    """One item's boxes as the DETR-family image processors take them (COCO detection
    format; `category_id` is the label index, the model's class id)."""
    return {
        "image_id": int(item["image_id"]),
        "annotations": [
            {
                "bbox": [float(v) for v in box],
                "category_id": int(label),
                "area": float(box[2] * box[3]),
                "iscrowd": 0,
            }
            for box, label in zip(item["boxes"], item["labels"])
        ],
    }


class DetectionCollator:
    """Items (sft.tasks.detection.transforms.SceneDataset) -> a batch:
    `pixel_values` [B,3,H,W] float32 and `pixel_mask` [B,H,W] int64 (1 on image, 0 on
    padding; absent when the processor gives none, as YOLOS's, whose model takes none) from
    `processor`; `labels` a list of
    {"class_labels": long [n], "boxes": float [n,4] cxcywh in 0..1} (the processor's,
    what the model's loss takes); `targets` a list of {"boxes": float [n,4] xyxy pixels,
    "labels": long [n]}; `target_sizes` long [B,2] (height, width) of the images as drawn;
    `paths` the image files."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, items: list[dict]) -> dict:
        encoded = self.processor(
            images=[item["image"] for item in items],
            annotations=[coco_annotations(item) for item in items],
            return_tensors="pt",
        )
        batch = {"pixel_values": encoded["pixel_values"]}
        if encoded.get("pixel_mask") is not None:
            batch["pixel_mask"] = encoded["pixel_mask"].long()
        return batch | {
            "labels": [
                {"class_labels": t["class_labels"].long(), "boxes": t["boxes"].float()}
                for t in encoded["labels"]
            ],
            "targets": [
                {
                    "boxes": xywh_to_xyxy(item["boxes"]),
                    "labels": torch.as_tensor(item["labels"], dtype=torch.long),
                }
                for item in items
            ],
            "target_sizes": torch.tensor(
                [item["image"].shape[:2] for item in items], dtype=torch.long
            ),
            "paths": [item["path"] for item in items],
        }
