"""The semantic-segmentation family: a class per pixel, from a transformers
`AutoModelForSemanticSegmentation` model (its own head and loss).

Its parts: `readers` (image + mask folders, saved 🤗 datasets; the pair checks), `transforms`
(mask-aware augmentation with albumentations, then the model's image processor), `data`
(SegmentationDataModule and its collate), `metrics` (per-class IoU, mean IoU, pixel
accuracy; logits -> label maps), `rle` (label maps as run-length encodings), `draw` (mask
overlays), `predict` (image paths -> masks), `task` (what generic code asks). Importing this
package imports numpy only (the registry reads it without torch).
"""

from __future__ import annotations

from sft.tasks.segmentation.task import NAME, SegmentationFamily, SegmentationTask

SEGMENTATION_FAMILY = SegmentationFamily()
SEGMENTATION = SegmentationTask(SEGMENTATION_FAMILY)
SEGMENTATION_FAMILY.task = SEGMENTATION

__all__ = ["NAME", "SEGMENTATION", "SEGMENTATION_FAMILY", "SegmentationFamily", "SegmentationTask"]
