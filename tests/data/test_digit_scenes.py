"""The digit scenes (sft.data.digit_scenes): exact boxes and masks, valid COCO, the same files
for the same seed, written once and atomically, test digits unseen in training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sft.data import digit_scenes
from sft.data.digit_scenes import SPLITS, block_indices, write_scenes
from sft.errors import SFTConfigError

# Small and quick: a 48-pixel canvas, digits of 12 to 20 pixels, a quarter of scenes empty.
SMALL = {
    "n_train": 12,
    "n_val": 4,
    "n_test": 4,
    "size": 48,
    "digit_px": (12, 20),
    "negatives": 0.25,
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    return write_scenes(tmp_path_factory.mktemp("scenes"), digits=[1, 4, 7], **SMALL)


def read_split(folder: Path, split: str):
    """COCO dict, {image id: (image array, mask array)}."""
    coco = json.loads((folder / split / "instances.json").read_text())
    pictures = {}
    for entry in coco["images"]:
        image = np.asarray(Image.open(folder / split / "images" / entry["file_name"]))
        mask = np.asarray(Image.open(folder / split / "masks" / entry["file_name"]))
        pictures[entry["id"]] = (image, mask)
    return coco, pictures


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_coco_is_valid_and_masks_use_known_ids(scenes):
    id2label = json.loads((scenes / "id2label.json").read_text())
    assert id2label == {"0": "background", "1": "1", "2": "4", "3": "7"}
    for split in SPLITS:
        coco, pictures = read_split(scenes, split)
        assert len(coco["images"]) == SMALL[f"n_{split}"]
        assert coco["categories"] == [
            {"id": k, "name": id2label[str(k)], "supercategory": "digit"} for k in (1, 2, 3)
        ]
        image_ids = [e["id"] for e in coco["images"]]
        annotation_ids = [a["id"] for a in coco["annotations"]]
        assert len(set(image_ids)) == len(image_ids)
        assert len(set(annotation_ids)) == len(annotation_ids)
        for entry in coco["images"]:
            image, mask = pictures[entry["id"]]
            assert image.shape == (entry["height"], entry["width"], 3) == (48, 48, 3)
            assert mask.shape == (48, 48) and mask.dtype == np.uint8
            assert {str(v) for v in np.unique(mask)} <= set(id2label)
        for annotation in coco["annotations"]:
            assert annotation["image_id"] in pictures
            assert annotation["category_id"] in {1, 2, 3}
            assert annotation["iscrowd"] == 0


def test_boxes_are_tight_around_their_mask_and_all_ink_is_boxed(scenes):
    for split in SPLITS:
        coco, pictures = read_split(scenes, split)
        boxed = dict.fromkeys(pictures, 0)
        for annotation in coco["annotations"]:
            image, mask = pictures[annotation["image_id"]]
            x, y, w, h = annotation["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 48 and y + h <= 48
            inside = mask[y : y + h, x : x + w]
            ink = inside > 0
            # only this instance's class inside its box, and its ink touches all four edges
            assert set(np.unique(inside[ink])) == {annotation["category_id"]}
            assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()
            assert annotation["area"] == int(ink.sum())
            boxed[annotation["image_id"]] += int(ink.sum())
        for image_id, (image, mask) in pictures.items():
            # every mask pixel lies in some box: boxes do not overlap, so the counts add up
            assert int((mask > 0).sum()) == boxed[image_id]
            if mask.any():  # what is drawn is exactly the mask: ink brighter than background
                assert image[mask > 0].min() > image[mask == 0].max()


def test_negatives_exist_and_are_empty(scenes):
    settings = json.loads((scenes / "settings.json").read_text())
    for split in SPLITS:
        coco, pictures = read_split(scenes, split)
        annotated = {a["image_id"] for a in coco["annotations"]}
        empty = [i for i in pictures if i not in annotated]
        assert len(empty) == round(0.25 * SMALL[f"n_{split}"]) >= 1
        assert all(not pictures[i][1].any() for i in empty)
        assert settings["splits"][split]["negatives"] == len(empty)
        assert settings["splits"][split]["objects"] == len(coco["annotations"])


def test_same_seed_same_files_other_seed_other_files(tmp_path, scenes):
    again = write_scenes(tmp_path / "a", digits=[1, 4, 7], **SMALL)
    assert again.name == scenes.name
    assert file_bytes(again) == file_bytes(scenes)
    other = write_scenes(tmp_path / "b", digits=[1, 4, 7], seed=1, **SMALL)
    assert other.name != scenes.name
    first = (scenes / "train" / "images" / "00000.png").read_bytes()
    assert (other / "train" / "images" / "00000.png").read_bytes() != first


def test_written_once_and_other_settings_write_another_folder(tmp_path):
    folder = write_scenes(tmp_path, **SMALL)
    stamp = (folder / "settings.json").stat().st_mtime_ns
    assert write_scenes(tmp_path, **SMALL) == folder
    assert (folder / "settings.json").stat().st_mtime_ns == stamp  # not written again
    bigger = write_scenes(tmp_path, **{**SMALL, "n_train": 13})
    assert bigger != folder and (bigger / "settings.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, bigger.name])


def test_an_interrupted_write_leaves_nothing_that_looks_done(tmp_path, monkeypatch):
    def broken(folder, *args):
        if folder.name == "val":
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C half way
        return real(folder, *args)

    real = digit_scenes._write_split
    monkeypatch.setattr(digit_scenes, "_write_split", broken)
    with pytest.raises(KeyboardInterrupt):
        write_scenes(tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []  # no half folder, no temporary folder
    monkeypatch.setattr(digit_scenes, "_write_split", real)
    folder = write_scenes(tmp_path, **SMALL)
    assert len(list((folder / "test" / "images").iterdir())) == SMALL["n_test"]


def test_splits_draw_disjoint_digit_samples():
    from sklearn.datasets import load_digits  # the test's own look at the samples

    targets = load_digits().target
    blocks = {split: set(block_indices(targets, [0, 3, 9], split).tolist()) for split in SPLITS}
    assert not blocks["train"] & blocks["val"]
    assert not blocks["train"] & blocks["test"]
    assert not blocks["val"] & blocks["test"]
    every = set(np.flatnonzero(np.isin(targets, [0, 3, 9])).tolist())
    assert set().union(*blocks.values()) == every
    for split, indices in blocks.items():  # every class in every split
        assert set(targets[sorted(indices)].tolist()) == {0, 3, 9}, split


def test_no_digit_sample_is_drawn_in_two_splits(tmp_path, monkeypatch):
    used: dict[str, set[bytes]] = {}

    def spy(folder, n, rng, samples, settings):
        used[folder.name] = {image.tobytes() for image, _ in samples}
        return real(folder, n, rng, samples, settings)

    real = digit_scenes._write_split
    monkeypatch.setattr(digit_scenes, "_write_split", spy)
    write_scenes(tmp_path, **SMALL)
    # no two of scikit-learn's 1,797 samples are the same 8x8 image, so equal bytes would
    # be one sample in two splits
    assert set(used) == set(SPLITS) and all(used.values())
    assert not used["train"] & used["val"]
    assert not used["train"] & used["test"]
    assert not used["val"] & used["test"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"digits": [3, 11]}, r"digit_scenes digits: \[11\]: digits are 0 to 9"),
        ({"digits": []}, r"digit_scenes digits: empty"),
        ({"digit_px": (20, 60)}, r"digit_scenes digit_px: \[20, 60\]: .* <= size \(48\)"),
        ({"negatives": 1.5}, r"digit_scenes negatives: 1.5"),
        ({"n_val": -1}, r"digit_scenes n_val: -1"),
    ],
)
def test_bad_settings_fail_in_one_line(tmp_path, options, message):
    with pytest.raises(SFTConfigError, match=message):
        write_scenes(tmp_path, **{**SMALL, **options})
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_command_line_writes_and_prints_the_folder(tmp_path, capsys):
    digit_scenes.main(
        ["--root", str(tmp_path), "--n-train", "2", "--n-val", "1", "--n-test", "1"]
        + ["--size", "40", "--digit-px", "12", "16", "--digits", "2", "5"]
    )
    folder = Path(capsys.readouterr().out.strip())
    assert folder.parent == tmp_path and (folder / "settings.json").is_file()
    assert json.loads((folder / "id2label.json").read_text())["2"] == "5"
