"""Augmentation moves an image and its mask alike, repeats for a seed and is off outside the
train split; batches hold what the task-model module and the metrics read; the data report
counts pixels per class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.mask_scenes import SEGMENTATION_LABELS, write_mask_folder
from sft.tasks.segmentation.data import SegmentationDataModule
from sft.tasks.segmentation.transforms import MaskAugment


def stripes(height: int = 40, width: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """An image whose colour is its mask's class, in blocks of 10 pixels (class = the block's
    column index mod 3 plus its row index mod 2)."""
    ys, xs = np.mgrid[:height, :width]
    mask = ((xs // 10) % 3 + (ys // 10) % 2).astype(np.uint8)
    image = np.stack([mask * 60, 255 - mask * 60, np.full_like(mask, 128)], axis=-1)
    return image.astype(np.uint8), mask


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_moves_image_and_mask_alike(seed):
    image, mask = stripes()
    out_image, out_mask = MaskAugment(True, 0.5, 2.0, 0.0)(image, mask, seed)
    assert out_image.shape == image.shape and out_mask.shape == mask.shape
    # Nearest-neighbour in the mask, bilinear in the image: away from block edges the
    # image's colour still says the mask's class.
    scored = out_mask != 255
    expected = np.rint(out_image[..., 0] / 60.0).astype(np.int64)
    agree = (expected == out_mask)[scored].mean()
    assert agree > 0.9, agree
    # Padded area (zoomed out): black image, ignored mask.
    assert (out_image[out_mask == 255] == 0).all()


def test_augmentation_repeats_for_a_seed_and_differs_across_seeds():
    image, mask = stripes()
    augment = MaskAugment(True, 0.5, 2.0, 0.2)
    first, again = augment(image, mask, 7), augment(image, mask, 7)
    assert all((a == b).all() for a, b in zip(first, again))
    other = [augment(image, mask, s)[1] for s in range(8, 12)]
    assert any((o != first[1]).any() for o in other)


def test_colour_jitter_leaves_the_mask_alone():
    image, mask = stripes()
    out_image, out_mask = MaskAugment(False, 1.0, 1.0, 0.5)(image, mask, 3)
    assert (out_mask == mask).all() and (out_image != image).any()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, tiny_segformer_dir):
    from transformers import AutoImageProcessor

    root = tmp_path_factory.mktemp("seg-data")
    write_mask_folder(root / "train", 10, seed=1, ignore_border=True)

    module = SegmentationDataModule("masks", str(root / "train"), val_fraction=0.3, seed=0)
    module.load()
    module.encode(AutoImageProcessor.from_pretrained(tiny_segformer_dir), 0, None)
    return module


def test_a_batch_holds_model_inputs_targets_sizes_and_paths(loaded):
    batch = next(iter(loaded.val_dataloader()))
    n = len(loaded.examples["val"])
    assert batch["pixel_values"].shape == (n, 3, 64, 64)
    assert batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].shape == (n, 64, 64) and batch["labels"].dtype == torch.long
    assert set(batch["labels"].unique().tolist()) <= {0, 1, 2, 3, 255}
    assert batch["paths"] == loaded.examples["val"].images
    # Evaluation: no augmentation, the targets are the masks at the images' sizes.
    for target, mask_file, size in zip(
        batch["targets"], loaded.examples["val"].masks, batch["target_sizes"]
    ):
        assert torch.equal(target, torch.from_numpy(np.array(Image.open(mask_file))).long())
        assert list(target.shape) == size.tolist()


def test_train_batches_are_augmented_per_epoch(loaded):
    dataset = loaded.datasets["train"]
    first = dataset[0]["target"]
    loader = loaded.train_dataloader()
    loader.batch_sampler.set_epoch(3)
    assert dataset.sampler is loader.batch_sampler
    later = dataset[0]["target"]
    assert first.shape == later.shape and not torch.equal(first, later)


def test_data_report_counts_pixels_per_class(loaded):
    from sft.data.report import data_report

    report = data_report(loaded.examples, loaded.labels.kind)
    counts = report["splits"]["train"]["labels"]
    assert set(counts) <= {*SEGMENTATION_LABELS, "(ignored)"}
    assert sum(counts.values()) == sum(w * h for w, h in loaded.examples["train"].sizes)
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    assert loaded.class_counts().tolist() == [
        sum(v for v in loaded.examples["train"].pixels[:, i]) for i in range(4)
    ]
    assert loaded.spec_fields() == {"modality": "image", "reduce_labels": False}
