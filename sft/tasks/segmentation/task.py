"""The semantic-segmentation family and its one task: a class per pixel, from a whole
transformers task model (`AutoModelForSemanticSegmentation`: SegFormer, UperNet, ...) with
its own head and loss; what generic code asks of it (sft.tasks.base.Task and the task-model
members of sft.tasks.task_model;
what every task-model family shares is in the bases of sft.tasks.one_task).

Reading this module imports numpy only: metrics, drawing and prediction import torch, PIL
and transformers when a run or a predictor asks for them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sft.tasks.one_task import STANDARDIZE_TARGETS, OneTaskFamily, TaskModelTask

NAME = "segmentation"


class SegmentationFamily(OneTaskFamily):
    """The segmentation family: its class names are id2label's (read with the data), else
    those the train split (readers.MaskedImages) was checked against. Its Task is set by
    sft/tasks/segmentation/__init__.py."""

    name = NAME


class SegmentationTask(TaskModelTask):
    """A class per pixel: batches hold images and label maps (255 = ignore), the model's own
    loss trains it, predictions are label maps at each image's size, metrics are per-class
    IoU, mean IoU and pixel accuracy (metrics.py), a served record is the predicted mask as
    an RLE and each class's share of the pixels (predict.py, rle.py)."""

    name = NAME
    auto_class = "AutoModelForSemanticSegmentation"
    model_inputs = ("pixel_values",)
    metrics = ("mean_iou", "pixel_accuracy")
    per_class = True  # <stage>/per_class/iou/<class>
    monitor = ("val/mean_iou", "max")
    # features: none yet (the base's empty set): a fold, seed or ensemble average of masks,
    # calibrated pixel probabilities, tuned decisions and ONNX/int8 export of a whole task
    # model are not built for masks.
    decision_key = "mask"
    pipeline_tags: ClassVar[dict[str, str]] = {"image": "image-segmentation"}
    # Unused: the model's own loss trains (sft.tasks.checks skips the loss check for a task
    # model and refuses a loss choice other than the default).
    loss_problem = "multiclass"
    standardize_refusal = STANDARDIZE_TARGETS
    predictions_refusal = (
        "turns outputs into label maps with batch_predictions (it needs each image's size)"
    )

    # -- configuration and data ---------------------------------------------------------------

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        """Pixels per class in the train split (k,) int64: `targets` is [images, k]."""
        counts = np.asarray(targets, dtype=np.int64).reshape(-1, num_labels)
        return counts.sum(axis=0)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """Pixels per class (and ignored pixels) of a split, most first (data report);
        `labels`: one {class: pixels} per image (readers.MaskedImages.labels)."""
        total: dict[str, int] = {}
        for counts in labels:
            for name, pixels in counts.items():
                total[name] = total.get(name, 0) + int(pixels)
        return dict(sorted(total.items(), key=lambda item: -item[1]))

    # -- the LightningModule ------------------------------------------------------------------

    def batch_predictions(self, outputs, batch, processor=None, model=None):
        """Label maps [h_i, w_i] int64 at each target's size (metrics.batch_predictions);
        `model` (the transformers model) is not needed."""
        from sft.tasks.segmentation.metrics import batch_predictions  # lazy: torch

        return batch_predictions(outputs, batch, processor)

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """SegmentationMetrics: per-class IoU, mean IoU and pixel accuracy over the split."""
        from sft.tasks.segmentation.metrics import SegmentationMetrics  # lazy: torch

        return SegmentationMetrics(num_labels)

    def epoch_values(self, summary, per_class):
        """{mean_iou, pixel_accuracy} and the per-class report: measure "iou", values [k]
        (NaN for a class neither predicted nor in the targets), present [k] (a class with
        a union: predicted or in the targets), support [k] (target pixels)."""
        computed = summary.compute()
        iou = computed["iou"]
        report = {
            "measure": "iou",
            "values": iou,
            "present": ~iou.isnan(),
            "support": computed["support"],
        }
        return {name: computed[name] for name in self.metrics}, report

    def draw(self, path: str, pred, target, label_names: list[str], threshold: float = 0.5):
        """The image with the predicted mask beside the ground truth (draw.py); a label map
        has no scores, so `threshold` does not apply."""
        from sft.tasks.segmentation.draw import draw  # lazy: PIL

        return draw(path, pred, target, label_names)

    # -- the model folder and prediction ------------------------------------------------------

    def model_spec(self, module) -> dict:
        return {}  # a label map needs no threshold; reduce_labels comes from the data

    def predict(self, predictor, inputs, batch_size: int = 8, progress: bool = False) -> list[dict]:
        """One record per image path: {"mask": RLE of the label map (rle.py), "shares":
        {class: share of the pixels}} (predict.py)."""
        from sft.tasks.segmentation.predict import predict_masks  # lazy: torch, PIL

        return predict_masks(predictor, inputs, batch_size, progress)

    def write_masks(self, records: list[dict], paths, folder, seen=None) -> list:
        """`sft-predict masks_dir=...`: each record's mask as a PNG of class ids named
        after its image (predict.write_masks; `seen`: stems of earlier chunks); the files
        written."""
        from sft.tasks.segmentation.predict import write_masks  # lazy: PIL

        return write_masks(records, paths, folder, seen)

    def raw_outputs(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """Every output pixel's class logits [total pixels, k] (predict.raw_outputs): what
        sft-export format=folder compares between a model and its copy."""
        from sft.tasks.segmentation.predict import raw_outputs  # lazy: torch

        return raw_outputs(predictor, inputs, batch_size)

    def decision(self, record: dict):
        """The predicted label map, as its RLE runs."""
        mask = record["mask"]
        return (tuple(mask["size"]), tuple(mask["counts"]), tuple(mask["values"]))
