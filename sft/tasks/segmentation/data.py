"""The LightningDataModule of semantic segmentation: read image + mask pairs, check them,
carve splits, then per batch augment (train), run the model's image processor and collate
what the task-model module (sft.tasks.task_model) and the metrics read."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sft.data.hf_sources import USUAL_NAMES, is_saved_dataset
from sft.data.media import load_image
from sft.data.module import SPLITS, TextDataModule
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.segmentation.readers import (
    MaskedImages,
    fingerprint,
    label_names,
    read_folder,
    read_mask,
    to_ids,
)
from sft.tasks.segmentation.saved_dataset import read_saved_dataset
from sft.tasks.segmentation.task import NAME
from sft.tasks.segmentation.transforms import MaskAugment, item_seed, processor_inputs

FORMATS = ("auto", "folder", "hf_dataset")
# A validation or test split looked for in a saved dataset given as train_path.
SPLIT_NAMES = {"train": ("train",), "val": USUAL_NAMES["validation"], "test": USUAL_NAMES["test"]}


class MaskDataset(Dataset):
    """One split's pairs, decoded when drawn: the image (RGB) and its mask (class ids,
    reduced if asked), augmented on the train split (seeded by run seed, epoch and index,
    so a resumed run draws the same), then the processor. An item is a dict of
    pixel_values [3, H, W], labels [H, W] (processor size), target [h, w] (the mask at the
    image's size, after augmentation), size (h, w) and path."""

    def __init__(self, found: MaskedImages, processor, augment, reduce_labels: bool, seed: int):
        self.found = found
        self.processor = processor
        self.augment = augment
        self.reduce_labels = reduce_labels
        self.seed = seed
        self.sampler = None  # its epoch seeds augmentation (set by the data module's loader)
        self.lengths = np.zeros(len(found), dtype=np.int64)  # one shape: nothing to group

    def __len__(self) -> int:
        return len(self.found)

    def __getitem__(self, index: int) -> dict:
        path = self.found.images[index]
        image = np.asarray(load_image(path))
        raw = read_mask(self.found.masks[index], self.found.places[index])
        mask = to_ids(raw, self.reduce_labels)
        mask = mask.astype(np.uint8)  # ids < 255 (id2label cannot name 255): cv2 and PIL take it
        if self.augment is not None:
            epoch = self.sampler.epoch if self.sampler is not None else 0
            image, mask = self.augment(image, mask, item_seed(self.seed, epoch, index))
        inputs = processor_inputs(self.processor, [image], [mask])
        return {
            "pixel_values": inputs["pixel_values"][0],
            "labels": inputs["labels"][0],
            "target": torch.from_numpy(mask.astype(np.int64)),
            "path": path,
        }


def collate(items: list[dict]) -> dict:
    """A batch: pixel_values [b, 3, H, W] float32 and labels [b, H, W] int64 (the model's
    inputs, 255 = ignore), targets (list of [h_i, w_i] int64: the metric's ground truth at
    each image's size), target_sizes [b, 2] int64 (height, width) and paths."""
    return {
        "pixel_values": torch.stack([i["pixel_values"] for i in items]),
        "labels": torch.stack([i["labels"] for i in items]),
        "targets": [i["target"] for i in items],
        "target_sizes": torch.tensor([list(i["target"].shape) for i in items], dtype=torch.long),
        "paths": [i["path"] for i in items],
    }


class SegmentationDataModule(TextDataModule):
    """Images with a mask each (a PNG of class ids, 255 = ignore) from a folder with
    `images/`, `masks/` (same file stems) and `id2label.json`, or from a 🤗 dataset saved
    with `save_to_disk` (`image_column`, `mask_column`: Image features). Call `load()`
    (read, check every pair, carve missing splits), then `encode(processor, ...)`; Lightning
    then asks for the loaders (TextDataModule's: DDP-sharded, resumable). `reduce_labels`:
    mask value 0 is ignored and every other value v is class v - 1 (HF's do_reduce_labels).
    `pictures`: how many val/test images the run draws with their predicted masks."""

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
        image_column: str = "image",
        mask_column: str = "label",
        id2label: str | None = None,
        label_names: list[str] | None = None,
        reduce_labels: bool = False,
        hflip: bool = True,
        min_scale: float = 0.5,
        max_scale: float = 2.0,
        color_jitter: float = 0.2,
        pictures: int = 8,
        media_dir: str | None = None,
        task: str = NAME,
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
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            group_by_length=False,
            num_workers=num_workers,
            seed=seed,
        )
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads masks; its task is {NAME}"
            )
        if format not in FORMATS:
            raise SFTConfigError(f"data.format={format}: unknown format (use {', '.join(FORMATS)})")
        self.format = format
        self.columns = (str(image_column), str(mask_column))
        self.id2label_path = id2label
        self.given_names = list(label_names) if label_names else None
        self.reduce_labels = bool(reduce_labels)
        self.augment = MaskAugment(hflip, min_scale, max_scale, color_jitter)
        self.pictures = int(pictures)
        self.media_dir = media_dir
        self.examples: dict[str, MaskedImages] = {}
        self.processor = None  # the model's image processor, once encode() has it

    # -- files -> checked splits --------------------------------------------------------

    def load(self, family=None, loss_task: str | None = None):
        """Read the class names and every split, check every pair (readers.check_pair),
        hold out missing val/test splits; return the label space (`family.label_space`).
        SFTDataError (one line naming the file or row, and the pixel value) for bad data."""
        if family is None:
            from sft.tasks.segmentation import SEGMENTATION_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read masks; set data.task={NAME}"
            )
        train_path = str(self.paths["train"])
        names = label_names(train_path, self.id2label_path, self.given_names, "data.train_path")
        for split in SPLITS:
            path, implicit = self.paths[split], False
            saved = self._kind(str(path or train_path)) == "hf_dataset"
            if path is None and saved and split != "train":
                path, implicit = train_path, True  # the saved dataset's own val/test split
            if path is None:
                continue
            key = f"data.{split}_path"
            if self._kind(str(path)) == "hf_dataset":
                found = read_saved_dataset(
                    str(path), key, SPLIT_NAMES[split], *self.columns, names,
                    self.reduce_labels, self.media_dir, implicit,
                )  # fmt: skip
            else:
                found = read_folder(str(path), key, names, self.reduce_labels)
            if found is not None:
                self.examples[split] = found
                self.fingerprints[split] = fingerprint(found)
        self.labels = family.label_space(self.examples["train"], names=names)
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        for split, found in self.examples.items():
            self.targets[split] = found.pixels
        return self.labels

    def _kind(self, path: str) -> str:
        if self.format != "auto":
            return self.format
        return "hf_dataset" if is_saved_dataset(path) else "folder"

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train pairs as `split` when it has no source (random by
        seed; not stratified: an image holds many classes)."""
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
        self.examples["train"] = train.subset(np.sort(order[held:]))

    # -- model inputs -------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Keep the model's image processor (saved with the model) and make each split's
        dataset; images are decoded and processed as batches are drawn (`max_length` and
        `cache_dir` do not apply)."""
        self.processor = processor  # the task-model module post-processes with it
        self.tokenizer = processor  # saved with the model, like a tokenizer
        for split, found in self.examples.items():
            self.datasets[split] = MaskDataset(
                found,
                processor,
                self.augment if split == "train" else None,
                self.reduce_labels,
                self.seed,
            )

    def spec_fields(self) -> dict:
        """sft_model.json fields: the modality, and whether mask values were reduced (class
        id i was mask value i + 1 in the training masks)."""
        return {"modality": "image", "reduce_labels": self.reduce_labels}

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        """TextDataModule's loader; the dataset learns the epoch from its sampler."""
        loader = super()._loader(split, batch_size, shuffle)
        self.datasets[split].sampler = loader.batch_sampler
        return loader

    def _collate(self):
        return collate
