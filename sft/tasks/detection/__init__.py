"""The object-detection family: boxes with classes in images, from a transformers
`AutoModelForObjectDetection` with its own head, loss and post-processing.

Its parts: `scenes` (a split's images and boxes, the box and image rules), `readers` (COCO,
metadata.jsonl, saved datasets), `transforms` (box-aware augmentation, the dataset),
`collate` (the image processor makes the batch), `data` (DetectionDataModule), `metrics`
(COCO mAP with faster-coco-eval), `draw` (pictures), `predict` (images -> boxes), `task`
(what generic code asks). Importing this package imports numpy only (the registry reads it
without torch).
"""

from __future__ import annotations

from sft.tasks.detection.task import NAME, DetectionFamily, DetectionTask

DETECTION_FAMILY = DetectionFamily()
DETECTION = DetectionTask(DETECTION_FAMILY)
DETECTION_FAMILY.task = DETECTION

__all__ = ["NAME", "DETECTION_FAMILY", "DETECTION", "DetectionFamily", "DetectionTask"]
