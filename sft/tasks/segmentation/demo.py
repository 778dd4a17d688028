"""The offline demo data of segmentation: sft.data.digit_scenes' synthetic scenes (digits from
scikit-learn pasted on a canvas, each digit's ink its mask), written once under
`paths.cache_dir`, then read as a mask folder (data=digit_masks)."""

from __future__ import annotations

from pathlib import Path

from sft.tasks.segmentation.data import SegmentationDataModule


class DigitMasksDataModule(SegmentationDataModule):
    """Digit scenes as image + mask pairs: classes background and the chosen digits (id 0 and
    1.. in digit order). `n_train`, `n_val`, `n_test`, `size`, `digits`, `scene_seed`,
    `digit_px`, `max_per_scene`, `negatives`: sft.data.digit_scenes.write_scenes' settings
    (the same settings reuse the folder written before)."""

    def __init__(
        self,
        name: str,
        root: str,
        n_train: int = 400,
        n_val: int = 100,
        n_test: int = 100,
        size: int = 96,
        digits: list[int] | None = None,
        scene_seed: int = 0,
        digit_px: tuple[int, int] = (20, 36),
        max_per_scene: int = 3,
        negatives: float = 0.1,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = root
        self.scenes = {
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            "size": size,
            "digits": None if digits is None else list(digits),
            "seed": scene_seed,
            "digit_px": tuple(digit_px),
            "max_per_scene": max_per_scene,
            "negatives": negatives,
        }

    def load(self, family=None, loss_task: str | None = None):
        """Write the scenes (once), point the splits at them, then read them as a folder."""
        from sft.data.digit_scenes import write_scenes  # lazy: scikit-learn's digits

        folder = Path(write_scenes(self.root, **self.scenes))
        self.paths = {split: str(folder / split) for split in ("train", "val", "test")}
        self.id2label_path = str(folder / "id2label.json")
        return super().load(family, loss_task)
