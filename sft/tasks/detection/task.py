"""The detection family and its one task: boxes with classes in images, from a transformers
`AutoModelForObjectDetection` (DETR, Conditional DETR, RT-DETR, ...) with its own head, loss
and post-processing; what generic code asks of it (sft.tasks.base.Task plus the task-model
members of the seam, sft.tasks.task_model).

Reading this module imports nothing heavy: the torch parts (metrics, drawing, prediction)
are imported when a run asks for them.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from sft.errors import SFTConfigError

NAME = "detection"
# The data report's count of images without boxes (valid negatives), beside the classes.
NEGATIVES = "(images without boxes)"


class DetectionFamily:
    """Settles the task (there is one) and the class names of a detection data set."""

    name = NAME
    tasks = (NAME,)
    task = None  # its one Task, set by the package (sft/tasks/detection/__init__.py)

    def settle(self, requested: str, loss_task: str | None) -> str:
        """Always detection (`auto` is the sequence family's; data configs name the task)."""
        return NAME

    def label_space(
        self,
        train,
        label_column: str = "objects",
        task: str = NAME,
        loss_task: str | None = None,
        separator: str = ",",
        **hints,
    ):
        """The class names of the train split (sft.tasks.detection.scenes.Scenes): COCO's
        categories in their listed order, id2label's, or the sorted names found."""
        from sft.tasks.sequence.labels import LabelSpace  # light: numpy and pandas

        return LabelSpace(NAME, list(train.names), kind=self.task)


class DetectionTask:
    """Boxes with classes: the model's own head and loss (Hungarian matching; class and box
    terms) train it, its image processor's post-processing turns outputs into boxes in image
    pixels, COCO mAP measures them (metrics.py), a prediction is a list of boxes with label
    and score (predict.py), pictures show them beside the ground truth (draw.py)."""

    name = NAME
    metrics = ("map", "map_50", "map_75", "mar_100")
    per_class = True  # AP per class: <stage>/per_class/map/<class>
    monitor = ("val/map", "max")
    # None of CV, ensembles, calibration, tuned decisions or ONNX yet: folds and ensembles
    # are per example and label, calibration and decisions are for class probabilities, and
    # DETR's ONNX graph (its post-processing in the image processor) is not checked here.
    features = frozenset()
    continuous_targets = False
    decision_key = "boxes"
    pipeline_tags: ClassVar[dict[str, str]] = {"image": "object-detection"}
    # The model's own loss trains it: sft.tasks.checks.check_network keeps the loss group at
    # its default and checks no loss against this (a whole task model, auto_class).
    loss_problem = NAME
    auto_class = "AutoModelForObjectDetection"
    model_inputs = ("pixel_values", "pixel_mask")

    def __init__(self, family):
        self.family = family

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- configuration and data ---------------------------------------------------------------

    def supports(self, feature: str) -> bool:
        return feature in self.features

    def check_options(self, cfg) -> None:
        """Refuse data options that have no meaning for boxes: data.standardize. (A loss
        choice and a model config that cannot make a detector are refused by
        sft.tasks.checks.check_network.)"""
        if cfg.data.get("standardize"):
            raise SFTConfigError(f"data.standardize=true applies to regression; the task is {NAME}")

    def pooling(self, configured: str) -> str:
        return "none"  # the model's own head reads the feature map

    def num_outputs(self, num_labels: int) -> int:
        return num_labels

    def pos_weight_count(self, num_labels: int) -> int:
        return 1

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        """Boxes per class (k,) int64 of `targets` (a label-id array per image)."""
        labels = [np.asarray(t, dtype=np.int64) for t in targets]
        flat = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=num_labels)

    def stratify(self, examples):
        return None  # an image holds many classes

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """Boxes per class in a split's images (most first), then NEGATIVES: the images
        without boxes (data report)."""
        labels = [list(names) for names in labels]
        counts = dict(Counter(n for names in labels for n in names).most_common())
        counts[NEGATIVES] = sum(1 for names in labels if not names)
        return counts

    # -- the LightningModule ------------------------------------------------------------------

    def module(self, cfg, datamodule):
        """The LightningModule of a transformers task model (the seam's)."""
        from sft.tasks.task_model import build_task_module  # lazy: torch and Lightning

        return build_task_module(cfg, datamodule)

    def loss_inputs(self, outputs, targets):
        raise SFTConfigError(f"task '{NAME}' trains with its model's own loss")

    def predictions(self, outputs):
        raise SFTConfigError(f"task '{NAME}' makes predictions with batch_predictions")

    def batch_predictions(self, outputs, batch: dict, processor, model=None) -> list[dict]:
        """One {"boxes": float [n,4] xyxy pixels of the image (clipped to it), "scores",
        "labels"} per image, every box the processor's post-processing keeps (threshold 0:
        COCO mAP ranks them all). `model` (the transformers model) is not needed."""
        from sft.tasks.detection.predict import detections  # lazy: torch

        return detections(processor, outputs, batch["target_sizes"], 0.0)

    def metric_targets(self, targets):
        return targets  # {"boxes": xyxy pixels, "labels"} per image (collate)

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """DetectionMAP: COCO mAP, mAP50, mAP75, mAR@100 and AP per class."""
        from sft.tasks.detection.metrics import DetectionMAP  # lazy: torch

        return DetectionMAP(num_labels)

    def per_class_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        return None  # AP per class comes from the same COCO evaluation (epoch_values)

    def epoch_values(self, summary, per_class):
        """{map, map_50, map_75, mar_100} and the report {"measure": "map", "values": AP
        per class (NaN for a class without boxes in the split), "present"}."""
        computed = summary.compute()
        values = {name: computed[name] for name in self.metrics}
        per = computed["map_per_class"]
        return values, {"measure": "map", "values": per, "present": ~per.isnan()}

    def class_names(self, label_names: list[str]) -> list[str]:
        return list(label_names)

    def draw(self, path: str, pred: dict, target: dict, label_names, threshold: float = 0.5):
        """The image with the predicted boxes (score >= threshold) beside it with the
        ground truth (sft.tasks.detection.draw)."""
        from sft.tasks.detection.draw import draw_pair  # lazy: PIL

        return draw_pair(path, pred, target, label_names, threshold)

    # -- the model folder and prediction ------------------------------------------------------

    def id2label(self, names: list[str]) -> dict[int, str]:
        return dict(enumerate(names))

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

    def records(self, raw, spec: dict) -> list[dict]:
        raise SFTConfigError(f"task '{NAME}' makes its records from images (predict)")
