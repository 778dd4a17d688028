"""`data=digits`: scikit-learn's bundled 8x8 handwritten digits written once as PNG files,
then read as an image folder (sft.data.media_module.ImageFolderDataModule)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sft.data.media_module import ImageFolderDataModule
from sft.errors import SFTConfigError, SFTDataError


class DigitsDataModule(ImageFolderDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), upsampled to `size`
    pixels and written once as PNG files under `root`, then read like an image folder: an
    image run that works offline out of the box. `digits` keeps a subset of the classes;
    `samples=scenes_train` keeps only the images that sft.data.digit_scenes draws its train
    scenes from, so a classifier pretrained on them has seen no digit of the scenes' val and
    test splits (the detection and segmentation demos start from such a classifier)."""

    SAMPLES = ("all", "scenes_train")

    def __init__(
        self,
        name: str,
        root: str,
        size: int = 32,
        digits: list[int] | None = None,
        samples: str = "all",
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = Path(root)
        self.size = int(size)
        self.digits = list(range(10)) if digits is None else [int(d) for d in digits]
        if samples not in self.SAMPLES:
            raise SFTConfigError(
                f"data.samples={samples}: must be one of {', '.join(self.SAMPLES)}"
            )
        self.samples = samples

    def load(self, family, loss_task: str | None = None):
        self.paths = {"train": str(self._write_pngs()), "val": None, "test": None}
        return super().load(family, loss_task)

    def _write_pngs(self) -> Path:
        """The digits as PNGs in a folder per class, named by a hash of what is in them."""
        # lazy: PIL and scikit-learn's bundled digits only for data=digits
        from PIL import Image
        from sklearn.datasets import load_digits

        bad = sorted(set(self.digits) - set(range(10)))
        if bad or not self.digits:
            raise SFTDataError(f"data.digits: {bad or 'empty'}: digits are 0 to 9")
        data = load_digits()
        keep = np.isin(data.target, self.digits)
        if self.samples == "scenes_train":
            from sft.data.digit_scenes import block_indices  # here: only for this option

            block = np.zeros(len(keep), dtype=bool)
            block[block_indices(data.target, self.digits, "train")] = True
            keep &= block
        images, targets = data.images[keep], data.target[keep]
        digest = hashlib.sha256(
            images.tobytes() + targets.tobytes() + str(self.size).encode()
        ).hexdigest()[:16]
        folder = self.root / f"{self.size}px-{digest}"
        if not (folder / ".complete").is_file():
            for i, (image, target) in enumerate(zip(images, targets)):
                pixels = (image * (255.0 / 16.0)).round().astype(np.uint8)  # values 0..16
                png = Image.fromarray(pixels, mode="L").resize(
                    (self.size, self.size), Image.BILINEAR
                )
                out = folder / str(target) / f"{i:04d}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                png.save(out)
            (folder / ".complete").touch()  # a crashed writer leaves no half set in use
        return folder
