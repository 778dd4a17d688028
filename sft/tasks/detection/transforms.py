"""Box-aware augmentation (albumentations) and the dataset that draws one image with its
boxes: decoded with PIL, augmented on the train split only, handed to the collator, which
runs the model's own image processor (resize, normalize, pad; sft.tasks.detection.collate).
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset


class Augment:
    """A random horizontal flip (`hflip`), a crop that keeps every box whole (albumentations'
    BBoxSafeRandomCrop, with probability `crop`; the image processor then resizes, so the
    crop also scales the objects up) and colour jitter (`color_jitter`: the brightness, contrast and
    saturation factors' spread, 0 = off). Boxes are COCO xywh pixels; boxes follow the image
    and stay inside it (clipped), a box left without area is dropped with its label."""

    def __init__(self, hflip: bool = True, crop: float = 0.5, color_jitter: float = 0.2):
        import albumentations as A  # lazy: ~1 s of imports (cv2), only for a train split

        steps = []
        if hflip:
            steps.append(A.HorizontalFlip(p=0.5))
        if crop > 0:
            steps.append(A.BBoxSafeRandomCrop(erosion_rate=0.0, p=float(crop)))
        if color_jitter > 0:
            spread = (max(0.0, 1 - color_jitter), 1 + color_jitter)
            steps.append(
                A.ColorJitter(brightness=spread, contrast=spread, saturation=spread, hue=0.0, p=0.8)
            )
        self.enabled = bool(steps)
        self.pipeline = A.Compose(
            steps,
            bbox_params=A.BboxParams(format="coco", label_fields=["labels", "ann_ids"], clip=True),
            seed=0,
        )

    def __call__(self, image: np.ndarray, boxes, labels, ann_ids, seed: int):
        """(image [H,W,3] uint8, boxes [n,4] float64 xywh, labels [n] int64, ann_ids) after
        the pipeline, drawn from `seed` (the same seed gives the same augmentation)."""
        if not self.enabled:
            return image, boxes, labels, list(ann_ids)
        self.pipeline.set_random_seed(seed)
        out = self.pipeline(
            image=image, bboxes=np.asarray(boxes).reshape(-1, 4), labels=labels, ann_ids=ann_ids
        )
        boxes = np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 4)
        keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        labels = np.asarray(out["labels"], dtype=np.int64).reshape(-1)[keep]
        ann_ids = [a for a, k in zip(out["ann_ids"], keep) if k]
        return out["image"], boxes[keep], labels, ann_ids


def load_rgb(path: str) -> np.ndarray:
    """The image at `path` as [H, W, 3] uint8 RGB."""
    from PIL import Image  # lazy: only when images are drawn

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class SceneDataset(Dataset):
    """The records of one split (sft.tasks.detection.scenes) as items for the collator:
    {"image": [H,W,3] uint8, "boxes": [n,4] xywh pixels, "labels": [n], "image_id", "path"}.
    `augment` (an Augment, train only) is seeded by (seed, epoch, index), so a resumed run
    draws the same crops; the epoch comes from the loader's sampler."""

    def __init__(self, records: list[dict], augment: Augment | None = None, seed: int = 0):
        self.records = records
        self.augment = augment
        self.seed = seed
        self.sampler = None  # the LengthGroupedBatchSampler (its epoch), set by the loader
        self.lengths = np.zeros(len(records), dtype=np.int64)  # one shape: nothing to group

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        item = self.records[index]
        image, boxes, labels = load_rgb(item["image"]), item["boxes"], item["labels"]
        ids = item["ann_ids"]
        if self.augment is not None:
            epoch = self.sampler.epoch if self.sampler is not None else 0
            seed = int(np.random.default_rng([self.seed, epoch, index]).integers(2**31))
            image, boxes, labels, ids = self.augment(image, boxes, labels, ids, seed)
        return {
            "image": image,
            "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            "labels": np.asarray(labels, dtype=np.int64).reshape(-1),
            "image_id": item["image_id"],
            "path": item["image"],
        }
