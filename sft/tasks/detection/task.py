"""The detection family and its one task: boxes with classes in images, from a transformers
`AutoModelForObjectDetection` (DETR, Conditional DETR, RT-DETR, ...) with its own head, loss
and post-processing; what generic code asks of it (sft.tasks.base.Task plus the task-model
members of the seam, sft.tasks.task_model;
what every task-model family shares is in the bases of sft.tasks.one_task).

Reading this module imports nothing heavy: the torch parts (metrics, drawing, prediction)
are imported when a run asks for them.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from sft.tasks.one_task import OneTaskFamily, TaskModelTask

NAME = "detection"
# The data report's count of images without boxes (valid negatives), beside the classes.
NEGATIVES = "(images without boxes)"


class DetectionFamily(OneTaskFamily):
    """The detection family: its class names are the train split's
    (sft.tasks.detection.scenes.Scenes): COCO's categories in their listed order,
    id2label's, or the sorted names found. Its Task is set by sft/tasks/detection/__init__.py."""

    name = NAME


class DetectionTask(TaskModelTask):
    """Boxes with classes: the model's own head and loss (Hungarian matching; class and box
    terms) train it, its image processor's post-processing turns outputs into boxes in image
    pixels, COCO mAP measures them (metrics.py), a prediction is a list of boxes with label
    and score (predict.py), pictures show them beside the ground truth (draw.py)."""

    name = NAME
    metrics = ("map", "map_50", "map_75", "mar_100")
    per_class = True  # AP per class: <stage>/per_class/map/<class>
    monitor = ("val/map", "max")
    decision_key = "boxes"
    # features: none of CV, ensembles, calibration, tuned decisions or ONNX yet (the base's
    # empty set): folds and ensembles are per example and label, calibration and decisions
    # are for class probabilities, and DETR's ONNX graph (its post-processing in the image
    # processor) is not checked here.
    pipeline_tags: ClassVar[dict[str, str]] = {"image": "object-detection"}
    # The model's own loss trains it: sft.tasks.checks.check_network keeps the loss group at
    # its default and checks no loss against this (a whole task model, auto_class).
    loss_problem = NAME
    auto_class = "AutoModelForObjectDetection"
    model_inputs = ("pixel_values", "pixel_mask")

    # -- configuration and data ---------------------------------------------------------------

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        """Boxes per class (k,) int64 of `targets` (a label-id array per image)."""
        labels = [np.asarray(t, dtype=np.int64) for t in targets]
        flat = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=num_labels)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """Boxes per class in a split's images (most first), then NEGATIVES: the images
        without boxes (data report)."""
        labels = [list(names) for names in labels]
        counts = dict(Counter(n for names in labels for n in names).most_common())
        counts[NEGATIVES] = sum(1 for names in labels if not names)
        return counts

    # -- the LightningModule ------------------------------------------------------------------

    def batch_predictions(self, outputs, batch: dict, processor, model=None) -> list[dict]:
        """One {"boxes": float [n,4] xyxy pixels of the image (clipped to it), "scores",
        "labels"} per image, every box the processor's post-processing keeps (threshold 0:
        COCO mAP ranks them all). `model` (the transformers model) is not needed."""
        from sft.tasks.detection.predict import detections  # lazy: torch

        return detections(processor, outputs, batch["target_sizes"], 0.0)

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """DetectionMAP: COCO mAP, mAP50, mAP75, mAR@100 and AP per class."""
        from sft.tasks.detection.metrics import DetectionMAP  # lazy: torch

        return DetectionMAP(num_labels)

    def epoch_values(self, summary, per_class):
        """{map, map_50, map_75, mar_100} and the report {"measure": "map", "values": AP
        per class (NaN for a class without boxes in the split), "present"}."""
        computed = summary.compute()
        values = {name: computed[name] for name in self.metrics}
        per = computed["map_per_class"]
        return values, {"measure": "map", "values": per, "present": ~per.isnan()}

    def draw(self, path: str, pred: dict, target: dict, label_names, threshold: float = 0.5):
        """The image with the predicted boxes (score >= threshold) beside it with the
        ground truth (sft.tasks.detection.draw)."""
        from sft.tasks.detection.draw import draw_pair  # lazy: PIL

        return draw_pair(path, pred, target, label_names, threshold)

    # -- the model folder and prediction ------------------------------------------------------

    def model_spec(self, module) -> dict:
        """The score from which a box is reported (data.threshold)."""
        return {"threshold": float(getattr(module, "threshold", 0.5))}

    def predict(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """One record per image (a path or base64 bytes): {"boxes": [{"box": [x0, y0, x1,
        y1] pixels, "label", "score"}, ...]} from the spec's threshold (predict.py)."""
        from sft.tasks.detection.predict import predict_boxes  # lazy: torch, PIL

        return predict_boxes(predictor, inputs, batch_size, progress)

    def raw_outputs(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """Every query's class logits and box [images x queries, classes + 4]
        (predict.raw_outputs): what sft-export format=folder compares between a model and
        its copy."""
        from sft.tasks.detection.predict import raw_outputs  # lazy: torch

        return raw_outputs(predictor, inputs, batch_size)

    def decision(self, record: dict):
        """The boxes found: label and corners to a tenth of a pixel."""
        return [(b["label"], tuple(round(v, 1) for v in b["box"])) for b in record["boxes"]]
