"""Images and masks -> model inputs: mask-aware augmentation of the train split
(albumentations: the same flip, scale and crop move the image and its mask; colour jitter
touches the image only), then the model's own image processor (resize, rescale, normalize),
which resizes masks with nearest-neighbour sampling, so class ids stay class ids.
"""

from __future__ import annotations

import os

import numpy as np

from sft.errors import SFTConfigError
from sft.tasks.segmentation.readers import IGNORE


def albumentations():
    """The albumentations module, imported without its update check: importing it asks
    PyPI for a newer version unless NO_ALBUMENTATIONS_UPDATE is set, and sft needs no
    network (an offline machine waits for that request to fail)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations  # lazy: ~2 s, only when a train split is augmented

    return albumentations


class MaskAugment:
    """Random train-time changes that keep an image and its mask aligned: a horizontal flip
    half the time (`hflip`), a rescale by a factor drawn from [min_scale, max_scale] then a
    crop (or a pad, with 255 = ignore in the mask) back to the image's own size at a random
    place, and colour jitter of strength `color_jitter` (brightness, contrast and saturation
    by up to that factor, hue by a quarter of it; 0: none) on the image alone. Each call is
    seeded, so an epoch's draws repeat on a resumed run."""

    def __init__(
        self,
        hflip: bool = True,
        min_scale: float = 0.5,
        max_scale: float = 2.0,
        color_jitter: float = 0.2,
    ):
        if not 0 < min_scale <= max_scale:
            raise SFTConfigError(
                f"data.min_scale={min_scale}, data.max_scale={max_scale}: need "
                f"0 < min_scale <= max_scale"
            )
        if not 0 <= color_jitter < 1:
            raise SFTConfigError(f"data.color_jitter={color_jitter}: must be in [0, 1)")
        self.hflip = bool(hflip)
        self.scale = (float(min_scale), float(max_scale))
        self.color_jitter = float(color_jitter)
        self._pipelines: dict[tuple[int, int], object] = {}  # one per image size (the crop's)

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(image uint8 [h, w, 3], mask uint8 [h, w]) -> the same shapes, changed alike."""
        pipeline = self._pipeline(image.shape[:2])
        pipeline.set_random_seed(int(seed))
        out = pipeline(image=image, mask=mask)
        return out["image"], out["mask"]

    def _pipeline(self, size: tuple[int, int]):
        if size not in self._pipelines:
            A = albumentations()
            steps = []
            if self.hflip:
                steps.append(A.HorizontalFlip(p=0.5))
            if self.scale != (1.0, 1.0):
                steps += [
                    # RandomScale's limits are offsets from 1 (0.5..2 -> -0.5..1)
                    A.RandomScale(scale_limit=(self.scale[0] - 1, self.scale[1] - 1), p=1.0),
                    A.RandomCrop(
                        height=size[0],
                        width=size[1],
                        pad_if_needed=True,
                        pad_position="random",
                        fill=0,
                        fill_mask=IGNORE,
                    ),
                ]
            if self.color_jitter:
                j = self.color_jitter
                steps.append(
                    A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=j / 4, p=1.0)
                )
            self._pipelines[size] = A.Compose(steps)
        return self._pipelines[size]

    def spec(self) -> dict:
        return {
            "hflip": self.hflip,
            "min_scale": self.scale[0],
            "max_scale": self.scale[1],
            "color_jitter": self.color_jitter,
        }


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one item's augmentation in one epoch of a run seeded `seed`."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def processor_inputs(processor, images: list, masks: list | None = None) -> dict:
    """The image processor's tensors: `pixel_values` float32 [b, 3, H, W] and, with masks,
    `labels` int64 [b, H, W] (255 = ignore), at the processor's size. Labels are reduced
    (if asked) by the reader already: the processor's own do_reduce_labels is switched off,
    so a checkpoint saved with it on (ADE20K SegFormer) does not reduce them twice."""
    kwargs = {"return_tensors": "pt"}
    if hasattr(processor, "do_reduce_labels"):
        kwargs["do_reduce_labels"] = False
    if masks is None:
        return {"pixel_values": processor(images=images, **kwargs)["pixel_values"].float()}
    out = processor(images=images, segmentation_maps=masks, **kwargs)
    return {"pixel_values": out["pixel_values"].float(), "labels": out["labels"].long()}
