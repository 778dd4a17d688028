"""The detection family's offline demo data: scikit-learn's digits pasted on canvases with
exact boxes (sft.data.digit_scenes), written once under the cache and read as COCO."""

from __future__ import annotations

from sft.tasks.detection.data import DetectionDataModule


class DigitBoxesDataModule(DetectionDataModule):
    """Digit scenes (sft.data.digit_scenes.write_scenes with these settings, under `root`)
    read as their train/val/test `instances.json`; every other key is DetectionDataModule's.
    `scene_seed` draws the scenes (the run's `seed` only carves and augments), so runs with
    other seeds see the same scenes. A split of 0 scenes is absent (val: carved from train
    by `val_fraction`)."""

    def __init__(
        self,
        name: str,
        root: str,
        n_train: int = 400,
        n_val: int = 100,
        n_test: int = 100,
        size: int = 96,
        digits: list[int] | None = None,
        digit_px: list[int] | None = None,
        max_per_scene: int = 3,
        negatives: float = 0.1,
        scene_seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = root
        self.scenes = {
            "n_train": int(n_train),
            "n_val": int(n_val),
            "n_test": int(n_test),
            "size": int(size),
            "digits": None if digits is None else [int(d) for d in digits],
            "digit_px": tuple(digit_px or (20, 36)),
            "max_per_scene": int(max_per_scene),
            "negatives": float(negatives),
            "seed": int(scene_seed),
        }

    def load(self, family=None, loss_task: str | None = None):
        """Write the scenes (once per settings), point the splits at them, read them."""
        from sft.data.digit_scenes import write_scenes  # lazy: scikit-learn's digits

        folder = write_scenes(self.root, **self.scenes)
        self.paths = {
            split: str(folder / split / "instances.json") if self.scenes[f"n_{split}"] else None
            for split in ("train", "val", "test")
        }
        return super().load(family, loss_task)
