"""COCO box metrics (mAP over IoU 0.50:0.95, mAP50, mAP75, mAR@100, mAP per class) as a
torchmetrics Metric whose per-image states DDP gathers across ranks.

torchmetrics has `MeanAveragePrecision`, but it refuses to construct without torchvision
(its box ops), and torchvision's PyPI wheel does not import beside sft's CPU torch build
('operator torchvision::nms does not exist'); so the same evaluation is run here with
faster-coco-eval's COCOeval (the backend torchmetrics itself offers, the pycocotools
algorithm in C++), on the same kind of states torchmetrics keeps.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torchmetrics import Metric

log = logging.getLogger(__name__)

# COCOeval's summary `stats` positions (maxDets 100, area all).
STATS = {"map": 0, "map_50": 1, "map_75": 2, "mar_100": 8}


def _quiet(*args, **kwargs) -> None:
    """faster-coco-eval prints its summary table by default."""


class DetectionMAP(Metric):
    """Update with predictions and ground truth per image; compute gives `map`, `map_50`,
    `map_75`, `mar_100` (scalars, -1 when the images hold no ground-truth box: COCOeval's and
    torchmetrics' convention) and `map_per_class` [num_classes] (NaN for a class with no
    ground-truth box in the images seen).

    `preds`: a list (one per image) of {"boxes": float [n,4] xyxy pixels, "scores": [n],
    "labels": long [n]}; `target`: a list of {"boxes": float [m,4] xyxy pixels,
    "labels": long [m]}. Class ids are 0..num_classes-1.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        for name in ("pred_boxes", "pred_scores", "pred_labels", "gt_boxes", "gt_labels"):
            self.add_state(name, default=[], dist_reduce_fx=None)

    def update(self, preds: list[dict], target: list[dict]) -> None:
        if len(preds) != len(target):
            raise ValueError(f"{len(preds)} predictions for {len(target)} images")
        for pred, true in zip(preds, target):
            self.pred_boxes.append(torch.as_tensor(pred["boxes"]).detach().float().reshape(-1, 4))
            self.pred_scores.append(torch.as_tensor(pred["scores"]).detach().float().reshape(-1))
            self.pred_labels.append(torch.as_tensor(pred["labels"]).detach().long().reshape(-1))
            self.gt_boxes.append(torch.as_tensor(true["boxes"]).detach().float().reshape(-1, 4))
            self.gt_labels.append(torch.as_tensor(true["labels"]).detach().long().reshape(-1))

    def compute(self) -> dict[str, torch.Tensor]:
        evaluation = self._evaluate()
        if evaluation is None:  # no ground truth: COCOeval's -1, every class absent
            out = {name: torch.tensor(-1.0) for name in STATS}
            out["map_per_class"] = torch.full((self.num_classes,), float("nan"))
            return out
        out = {name: torch.tensor(float(evaluation.stats[i])) for name, i in STATS.items()}
        out["map_per_class"] = torch.from_numpy(per_class_ap(evaluation, self.num_classes))
        return out

    def _evaluate(self):
        """COCOeval run on the states, or None when no image has a ground-truth box."""
        from faster_coco_eval import COCO, COCOeval_faster  # lazy: C++ extension, eval only

        images, annotations, detections = [], [], []
        for image_id, (boxes, labels) in enumerate(zip(self.gt_boxes, self.gt_labels), 1):
            images.append({"id": image_id})
            for box, label in zip(_xywh(boxes), labels.tolist()):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": label,
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                    }
                )
        if not annotations:
            return None
        for image_id, (boxes, scores, labels) in enumerate(
            zip(self.pred_boxes, self.pred_scores, self.pred_labels), 1
        ):
            for box, score, label in zip(_xywh(boxes), scores.tolist(), labels.tolist()):
                detections.append(
                    {"image_id": image_id, "category_id": label, "bbox": box, "score": score}
                )
        categories = [{"id": k, "name": str(k)} for k in range(self.num_classes)]
        truth = COCO(
            {"images": images, "annotations": annotations, "categories": categories},
            print_function=_quiet,
        )
        found = truth.loadRes(detections)  # an empty list gives no detections
        evaluation = COCOeval_faster(truth, found, "bbox", print_function=_quiet)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        return evaluation


def per_class_ap(evaluation, num_classes: int) -> np.ndarray:
    """AP over IoU 0.50:0.95 per class [num_classes] float64 from COCOeval's precision
    array [IoU, recall, class, area, maxDets] (area all, maxDets 100), as pycocotools'
    summarize averages it; NaN for a class without ground truth (precision -1)."""
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    values = np.full(num_classes, np.nan)
    for k, class_id in enumerate(evaluation.params.catIds):
        column = precision[:, :, k]
        if (column > -1).any():
            values[int(class_id)] = float(column[column > -1].mean())
    return values


def _xywh(boxes: torch.Tensor) -> list[list[float]]:
    """xyxy [n,4] -> COCO [x, y, width, height] lists."""
    boxes = boxes.cpu().double()
    sizes = boxes[:, 2:] - boxes[:, :2]
    return torch.cat([boxes[:, :2], sizes], dim=1).tolist()
