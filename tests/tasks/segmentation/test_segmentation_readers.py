"""The rules image + mask data must follow: every image has a mask and every mask an image,
images decode, a mask has its image's size and holds only id2label's ids (or 255); each
broken case stops with one line naming the file (or dataset row) and the pixel value."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from helpers.mask_scenes import SEGMENTATION_LABELS, write_id2label, write_mask_folder
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.segmentation.readers import read_folder, read_id2label, to_ids

NAMES = SEGMENTATION_LABELS


@pytest.fixture
def scenes(tmp_path):
    return write_mask_folder(tmp_path / "scenes", 4, seed=0)


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_a_good_folder_reads_every_pair_with_sizes_and_pixel_counts(scenes):
    found = read_folder(str(scenes), "data.train_path", NAMES, False)
    assert len(found) == 4 and found.names == NAMES
    assert list(found.sizes) == [(64, 64), (64, 48), (64, 64), (64, 48)]
    masks = [np.asarray(Image.open(m)) for m in found.masks]
    for mask, row in zip(masks, found.pixels):
        assert row.tolist() == np.bincount(mask.ravel(), minlength=4).tolist()
    record = found.record(1)
    assert record["image"].endswith("scene001.png") and record["mask"].endswith("scene001.png")
    assert (record["width"], record["height"]) == (64, 48)


def test_an_image_without_a_mask_names_the_image(scenes):
    (scenes / "masks" / "scene002.png").unlink()
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo) == (
        f"{scenes}/images/scene002.jpg: no mask for this image (expected "
        f"{scenes}/masks/scene002.png)"
    )


def test_a_mask_without_an_image_names_the_mask(scenes):
    (scenes / "images" / "scene001.png").unlink()
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo) == f"{scenes}/masks/scene001.png: no image for this mask in " + (
        f"{scenes}/images/"
    )


def test_an_image_that_does_not_decode_names_the_file(scenes):
    broken = scenes / "images" / "scene003.png"
    broken.write_bytes(broken.read_bytes()[:60])  # a truncated PNG
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo).startswith(f"{broken}: not a readable image (")


def test_a_mask_of_another_size_names_both_files_and_sizes(scenes):
    Image.fromarray(np.zeros((40, 64), dtype=np.uint8)).save(scenes / "masks" / "scene000.png")
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo) == (
        f"{scenes}/masks/scene000.png: the mask is 64x40 pixels but its image "
        f"{scenes}/images/scene000.jpg is 64x64 (width x height)"
    )


def test_a_pixel_value_not_in_id2label_names_the_value_and_file(scenes):
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[5, 5] = 7
    mask[6, 6] = 255  # the ignore value is allowed
    Image.fromarray(mask).save(scenes / "masks" / "scene001.png")
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo) == (
        f"{scenes}/masks/scene001.png: pixel value 7 is not a class id of id2label "
        f"(0..3; 255 = ignore)"
    )


def test_ignored_pixels_are_allowed_and_counted_apart(tmp_path):
    root = write_mask_folder(tmp_path / "s", 2, seed=3, ignore_border=True)
    found = read_folder(str(root), "data.train_path", NAMES, False)
    assert found.ignored[0] == 64 * 64 - 60 * 60
    assert found.pixels[0].sum() == 60 * 60
    assert found.labels[0]["(ignored)"] == 64 * 64 - 60 * 60


def test_reduce_labels_ignores_zero_and_shifts_the_other_ids(scenes):
    raw = np.array([[0, 1, 2], [4, 255, 3]])
    assert to_ids(raw, True).tolist() == [[255, 0, 1], [3, 255, 2]]
    assert to_ids(raw, False).tolist() == raw.tolist()
    # reduced, mask values 0..3 name the 3 classes square, disc, bar (value 4 would be a 4th)
    found = read_folder(str(scenes), "data.train_path", NAMES[1:], True)
    raw_counts = np.bincount(np.asarray(Image.open(found.masks[0])).ravel(), minlength=4)
    assert found.pixels[0].tolist() == raw_counts[1:].tolist()
    assert found.ignored[0] == raw_counts[0]
    with pytest.raises(SFTDataError, match=r"pixel value 3 is not a class id of id2label \(0\.\.2"):
        read_folder(str(scenes), "data.train_path", NAMES[1:3], True)


def test_a_colour_mask_and_a_jpeg_mask_are_refused(scenes):
    Image.new("RGB", (64, 64)).save(scenes / "masks" / "scene000.png")
    with pytest.raises(SFTDataError) as excinfo:
        read_folder(str(scenes), "data.train_path", NAMES, False)
    assert one_line(excinfo).startswith(f"{scenes}/masks/scene000.png: the mask is a RGB image")
    Image.new("L", (64, 64)).save(scenes / "masks" / "scene000.jpg")
    with pytest.raises(SFTDataError, match="a mask must be lossless"):
        read_folder(str(scenes), "data.train_path", NAMES, False)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"0": "a", "2": "b"}, "class ids must be 0..1 without gaps (missing or out of order: 1)"),
        ({"0": "a", "255": "b"}, "id 255 is the ignore value and cannot name a class"),
        ({"0": "a", "x": "b"}, "key 'x' is not a class id (an integer)"),
        ({"0": "a", "1": "a"}, "class name 'a' is given twice"),
    ],
)
def test_a_bad_id2label_names_the_file(tmp_path, mapping, message):
    path = tmp_path / "id2label.json"
    path.write_text(json.dumps(mapping))
    with pytest.raises(SFTDataError) as excinfo:
        read_id2label(path, "data.train_path")
    assert one_line(excinfo) == f"{path}: {message}"


def test_saved_dataset_pairs_read_and_a_bad_row_is_named(tmp_path):
    datasets = pytest.importorskip("datasets")
    from sft.tasks.segmentation.data import SegmentationDataModule

    root = write_mask_folder(tmp_path / "scenes", 6, seed=1)
    files = sorted((root / "images").iterdir())
    masks = [str(root / "masks" / f"{f.stem}.png") for f in files]
    features = datasets.Features({"image": datasets.Image(), "annotation": datasets.Image()})
    table = {"image": [str(f) for f in files], "annotation": masks}
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(table, features=features),
            "validation": datasets.Dataset.from_dict(
                {k: v[:2] for k, v in table.items()}, features=features
            ),
        }
    ).save_to_disk(saved)
    module = SegmentationDataModule(
        "masks",
        str(saved),
        mask_column="annotation",
        label_names=NAMES,
        media_dir=str(tmp_path / "media"),
    )
    labels = module.load()
    assert labels.names == NAMES and labels.task == "segmentation"
    assert {s: len(e) for s, e in module.examples.items()} == {"train": 6, "val": 2}
    assert module.class_counts().sum() == 3 * 64 * 64 + 3 * 48 * 64

    write_id2label(root, NAMES[:2])  # "disc" and "bar" pixels are now unknown
    bad = SegmentationDataModule(
        "masks", str(saved), mask_column="annotation", id2label=str(root / "id2label.json"),
        media_dir=str(tmp_path / "media"),
    )  # fmt: skip
    with pytest.raises(SFTDataError) as excinfo:
        bad.load()
    assert one_line(excinfo).startswith(f"{saved} (split 'train') row 1 (annotation): pixel value ")
    with pytest.raises(SFTConfigError, match="give one of them"):
        SegmentationDataModule("masks", str(saved), id2label="x.json", label_names=["a"]).load()
