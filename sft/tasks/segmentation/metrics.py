"""Semantic segmentation metrics: per-class IoU, mean IoU and pixel accuracy over every
scored pixel of a split (255 = ignore), and the predictions they score (label maps at the
ground truth's size).

Why not torchmetrics' own classes: `MeanIoU` has no ignore index and averages IoU image by
image (a class's IoU on each image where it occurs, then the mean of those), while the
figure papers and the HF `evaluate` mean_iou report is the dataset's: a class's
intersection over union summed over all pixels of the split. `MulticlassJaccardIndex`
computes that and ignores 255, but under `torch.use_deterministic_algorithms` (sft's
default trainer.deterministic=true) its confusion matrix is counted by comparing every pixel
with every cell (torchmetrics.utilities.data._bincount): pixels x classes^2 int64, e.g. 8
images of 512x512 with 150 classes = 2.1M x 22,500 x 8 bytes = 377 GB (computed). Here the
confusion matrix is a torchmetrics `Metric` state (summed across DDP ranks, reset per
epoch) counted with `torch.unique`, deterministic and linear in the pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from sft.tasks.segmentation.readers import IGNORE


def confusion(preds: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts [k, k] int64 (row: true class, column: predicted) of the pixels whose target
    is not 255; `preds`, `target` integer tensors of one shape."""
    keep = target != IGNORE
    code = target[keep].long() * num_classes + preds[keep].long()
    values, counts = torch.unique(code, return_counts=True)
    flat = torch.zeros(num_classes * num_classes, dtype=torch.long, device=code.device)
    flat[values] = counts  # unique values: a plain write, no accumulation order to fix
    return flat.view(num_classes, num_classes)


class SegmentationMetrics(Metric):
    """mean_iou, pixel_accuracy and per-class IoU of label maps.

    `update(preds, targets)`: label maps, a tensor [b, h, w] or a list of [h_i, w_i]
    tensors (images of different sizes), class ids 0..k-1; target pixels equal to 255 do
    not count. `compute()` -> {"mean_iou", "pixel_accuracy", "iou" [k] (NaN for a class
    absent from both the predictions and the targets: no union), "support" [k] (target
    pixels per class)}. IoU_c = TP_c / (TP_c + FP_c + FN_c) summed over the split; mean IoU
    is the mean over classes with a union (as HF evaluate's mean_iou: nanmean); pixel
    accuracy = correct pixels / scored pixels."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        k = self.num_classes
        self.add_state("matrix", torch.zeros(k, k, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds, targets) -> None:
        pairs = zip(preds, targets) if isinstance(preds, (list, tuple)) else [(preds, targets)]
        for pred, target in pairs:
            if pred.shape != target.shape:
                raise ValueError(f"prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
            self.matrix += confusion(pred.to(self.device), target.to(self.device), self.num_classes)

    def compute(self) -> dict[str, torch.Tensor]:
        matrix = self.matrix.double()
        hits = matrix.diagonal()
        union = matrix.sum(0) + matrix.sum(1) - hits
        iou = torch.where(union > 0, hits / union.clamp(min=1), torch.full_like(hits, float("nan")))
        scored = matrix.sum()
        present = ~iou.isnan()
        nan = iou.new_tensor(float("nan"))
        return {
            "mean_iou": iou[present].mean() if present.any() else nan,
            "pixel_accuracy": hits.sum() / scored if scored > 0 else nan,
            "iou": iou,
            "support": self.matrix.sum(1),
        }


def upsample_argmax(logits: torch.Tensor, sizes) -> list[torch.Tensor]:
    """Label maps [h_i, w_i] int64 from logits [b, k, h, w]: each image's logits resized to
    its size (`sizes`: [b, 2] height, width) bilinearly, then the argmax over classes, as
    transformers' semantic-segmentation example and post_process_semantic_segmentation do."""
    sizes = [tuple(int(v) for v in s) for s in sizes]
    if len(set(sizes)) == 1:  # one size: one call
        up = F.interpolate(logits, size=sizes[0], mode="bilinear", align_corners=False)
        return list(up.argmax(dim=1))
    return [
        F.interpolate(row[None], size=size, mode="bilinear", align_corners=False)[0].argmax(0)
        for row, size in zip(logits, sizes)
    ]


def batch_predictions(outputs, batch: dict, processor=None) -> list[torch.Tensor]:
    """The label maps the metric scores: the model's logits (SegFormer: 1/4 of the input
    size) upsampled to each target's size (`batch["targets"]`, the masks at the images'
    own sizes) and argmaxed; list of [h_i, w_i] int64."""
    sizes = [t.shape[-2:] for t in batch["targets"]]
    return upsample_argmax(outputs.logits.detach().float(), sizes)
