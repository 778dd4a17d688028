"""The LightningDataModule of object detection: read images and boxes (COCO, metadata.jsonl,
a saved 🤗 dataset), validate them, carve splits, augment the train split (box-aware), batch
through the model's own image processor."""

from __future__ import annotations

import logging

import numpy as np

from sft.data.hf_sources import USUAL_NAMES
from sft.data.module import SPLITS, TextDataModule
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.detection.collate import DetectionCollator
from sft.tasks.detection.readers import files_digest, read_scenes, resolve_format
from sft.tasks.detection.scenes import Scenes
from sft.tasks.detection.task import NAME
from sft.tasks.detection.transforms import Augment, SceneDataset

log = logging.getLogger(__name__)

# A validation or test split looked for in a saved dataset given as train_path.
SPLIT_NAMES = {"train": ("train",), "val": USUAL_NAMES["validation"], "test": USUAL_NAMES["test"]}


class DetectionDataModule(TextDataModule):
    """Images with boxes and classes from COCO `instances.json` (+ `image_dir`), an image
    folder with `metadata.jsonl`, or a 🤗 dataset saved with `save_to_disk` (`format`: coco,
    imagefolder, hf_dataset, or auto from the path; sft.tasks.detection.readers). Call
    `load()` (read, validate, carve splits, label names), then `encode(processor)`;
    Lightning then asks for the loaders (TextDataModule's: DDP-sharded, resumable), whose
    batches sft.tasks.detection.collate.DetectionCollator makes.

    `augment` (train split only): `hflip`, `crop` (probability of a box-safe crop), `color_jitter`
    (jitter spread); sft.tasks.detection.transforms.Augment. `threshold`: the score from
    which a predicted box is reported (pictures, sft-predict). `pictures`: validation and
    test images drawn with their boxes. `media_dir`: where a saved dataset's embedded
    images are written as files.
    """

    modality = "image"

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        format: str = "auto",
        image_dir: str | None = None,
        media_dir: str | None = None,
        task: str = NAME,
        threshold: float = 0.5,
        augment: bool = True,
        hflip: bool = True,
        crop: float = 0.5,
        color_jitter: float = 0.2,
        pictures: int = 8,
        batch_size: int = 8,
        eval_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            name,
            train_path,
            val_path,
            test_path,
            val_fraction,
            test_fraction,
            threshold=threshold,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            group_by_length=False,
            num_workers=num_workers,
            seed=seed,
        )
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads boxes in images; its task is {NAME}"
            )
        if not 0 <= crop <= 1:
            raise SFTConfigError(f"data.crop={crop}: a probability, 0 to 1")
        if color_jitter < 0:
            raise SFTConfigError(
                f"data.color_jitter={color_jitter}: a jitter spread, 0 (off) or more"
            )
        self.format = format
        self.image_dir = image_dir
        self.media_dir = media_dir
        self.augmentation = (
            {"hflip": hflip, "crop": crop, "color_jitter": color_jitter} if augment else None
        )
        self.pictures = int(pictures)
        self.examples: dict[str, Scenes] = {}
        self.processor = None  # the model's image processor (encode)

    # -- files -> validated splits ------------------------------------------------------

    def load(self, family=None, loss_task: str | None = None):
        """Read every split (a saved dataset's own validation/test splits when their paths
        are null), take the label names from the train split (`family.label_space`),
        re-index the other splits' classes by name, carve missing splits; return the label
        space. SFTDataError (one line naming the file and annotation) for a bad box, image
        or category (sft.tasks.detection.readers)."""
        if family is None:
            from sft.tasks.detection import DETECTION_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read boxes; set data.task={NAME}"
            )
        kind = resolve_format(str(self.paths["train"]), self.format)
        for split in SPLITS:
            path, implicit = self.paths[split], False
            if path is None and kind == "hf_dataset" and split != "train":
                path, implicit = self.paths["train"], True
            if path is None:
                continue
            found, digest = read_scenes(
                str(path),
                f"data.{split}_path",
                "hf_dataset" if implicit else self.format,
                self.image_dir,
                SPLIT_NAMES[split],
                implicit,
                self.media_dir,
            )
            if found is not None:
                self.examples[split] = found
                self.fingerprints[split] = files_digest(digest, found.texts)
        train = self.examples["train"]
        if not train.names:
            raise SFTDataError(f"{train.source}: no categories (nothing to detect)")
        self.labels = family.label_space(train)
        self.labels.threshold = self.threshold
        for split, scenes in self.examples.items():
            if split != "train":
                scenes.relabel(self.labels.names)
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        for split, scenes in self.examples.items():
            negatives = sum(1 for r in scenes.records if not len(r["labels"]))
            if negatives:
                log.info(
                    "%s: %d of %d %s images have no boxes (negatives)",
                    scenes.source,
                    negatives,
                    len(scenes),
                    split,
                )
        return self.labels

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train images as `split` when it has no source (random
        by seed: an image holds many classes)."""
        if split in self.examples or fraction <= 0:
            return
        train = self.examples["train"]
        held = int(np.ceil(fraction * len(train)))
        if held >= len(train):
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: the {split} split of the {len(train)} "
                f"images of {train.source} would leave none to train on; lower "
                f"data.{split}_fraction or give data.{split}_path"
            )
        order = np.random.default_rng(self.seed).permutation(len(train))
        self.examples[split] = train.subset(np.sort(order[:held]))
        self.examples[split].source = f"{train.source} (held-out {split} split)"
        self.examples["train"] = train.subset(np.sort(order[held:]))

    def class_counts(self) -> np.ndarray:
        """Boxes per class in the train split (k,) int64."""
        labels = [r["labels"] for r in self.examples["train"].records]
        return self.labels.kind.class_counts(labels, len(self.labels.names))

    def spec_fields(self) -> dict:
        """sft_model.json: the input is an image file; boxes from `threshold` are reported."""
        return {"modality": "image", "threshold": float(self.threshold)}

    # -- batches --------------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Keep the model's image processor (saved with the model, it batches here) and make
        each split's dataset; the train split is augmented when `augment` is on. Images are
        decoded when drawn (their boxes were checked when read)."""
        self.tokenizer = self.processor = processor  # saved with the model; TaskModelModule's
        augment = Augment(**self.augmentation) if self.augmentation else None
        for split, scenes in self.examples.items():
            self.datasets[split] = SceneDataset(
                scenes.records, augment if split == "train" else None, seed=self.seed
            )

    def _loader(self, split: str, batch_size: int, shuffle: bool):
        """TextDataModule's loader; the dataset learns the epoch from its sampler, to seed
        augmentation."""
        loader = super()._loader(split, batch_size, shuffle)
        self.datasets[split].sampler = loader.batch_sampler
        return loader

    def _collate(self):
        return DetectionCollator(self.tokenizer)
