"""Synthetic detection and segmentation scenes made from scikit-learn's bundled 8x8 digits:
the offline demo data of the detection and segmentation families.

A scene is a dark, mildly noisy canvas with 1 to `max_per_scene` digits (or none: a
negative), each upsampled (bilinear) to a random size and pasted where its box keeps a gap
of GAP pixels to every other digit's box. A digit's ink is its upsampled pixels above INK of
full intensity, and only the ink is drawn, so boxes and masks are exact: the box is the tight
box around the ink, the mask is the ink.

Classes: the k-th of the chosen `digits` (sorted) has id k + 1, named by its digit; 0 is the
background. With all ten digits, digit d has id d + 1, names "background", "0" .. "9".

Layout written by `write_scenes` (one folder per settings, reused when they recur):

    <root>/scenes-<size>px-<fingerprint>/
        settings.json                 the settings, their fingerprint, counts per split
        id2label.json                 {"0": "background", "1": "0", ...}
        <split>/images/<stem>.png     RGB scenes (split: train, val, test)
        <split>/masks/<stem>.png      uint8 class ids, the image's size
        <split>/instances.json        COCO: file_name relative to images/, bbox [x, y, w, h]

Train, val and test scenes draw their digits from disjoint blocks of scikit-learn's samples
(half, a quarter, a quarter), so test digits are samples no training scene showed. Blocks in
file order, not a shuffle: scikit-learn publishes no writer ids, and if its file keeps each
writer's samples together (not checked), blocks keep most writers to one split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from sft.errors import SFTConfigError

SPLITS = ("train", "val", "test")
# Where each split's digit samples start and end, as fractions of scikit-learn's 1,797.
BLOCKS = {"train": (0.0, 0.5), "val": (0.5, 0.75), "test": (0.75, 1.0)}
INK = 0.3  # an upsampled pixel is ink above 0.3 of full intensity (16 in the 0..16 data)
FORMAT = 1  # bump when drawing changes, so that folders drawn the old way are not reused
GAP = 2  # pixels between two digits' boxes, so that no two digits touch and look like one
PLACEMENT_TRIES = 50  # a digit that finds no free spot in this many draws is left out
SETTINGS_FILE = "settings.json"


def write_scenes(
    root: str | Path,
    n_train: int = 400,
    n_val: int = 100,
    n_test: int = 100,
    size: int = 96,
    digits: list[int] | None = None,
    seed: int = 0,
    digit_px: tuple[int, int] = (20, 36),
    max_per_scene: int = 3,
    negatives: float = 0.1,
) -> Path:
    """Write the scenes once under `root` and return their folder (layout: module docstring).

    `size`: canvas side in pixels; `digit_px`: (smallest, largest) side of an upsampled digit;
    `negatives`: the share of each split's scenes with no digit (rounded to whole scenes).
    The folder is named by a fingerprint of the settings and of scikit-learn's digits: the
    same settings reuse it, other settings write another. It is written in a temporary folder
    and renamed into place, so an interrupted write never leaves a folder that looks done.
    Raises SFTConfigError for settings that cannot work (named by argument).
    """
    chosen = sorted({int(d) for d in (range(10) if digits is None else digits)})
    settings = {
        "n_train": int(n_train),
        "n_val": int(n_val),
        "n_test": int(n_test),
        "size": int(size),
        "digits": chosen,
        "seed": int(seed),
        "digit_px": [int(digit_px[0]), int(digit_px[1])],
        "max_per_scene": int(max_per_scene),
        "negatives": float(negatives),
        "format": FORMAT,
    }
    _check(settings, digits)
    data = load_digits()
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(data.images.tobytes() + data.target.tobytes())
    fingerprint = digest.hexdigest()[:16]
    root = Path(root).expanduser()
    folder = root / f"scenes-{settings['size']}px-{fingerprint}"
    if (folder / SETTINGS_FILE).is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        counts = {}
        for index, split in enumerate(SPLITS):
            rng = np.random.default_rng([settings["seed"], index])
            samples = _block(data.images, data.target, chosen, split)
            n = settings[f"n_{split}"]
            counts[split] = _write_split(temporary / split, n, rng, samples, settings)
        id2label = {"0": "background", **{str(k + 1): str(d) for k, d in enumerate(chosen)}}
        _dump(temporary / "id2label.json", id2label)
        summary = {"settings": settings, "fingerprint": fingerprint, "splits": counts}
        _dump(temporary / SETTINGS_FILE, summary)
        try:
            os.rename(temporary, folder)  # atomic: the folder appears whole or not at all
        except OSError:
            if not (folder / SETTINGS_FILE).is_file():  # not another writer's finished copy
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return folder


def _check(settings: dict, digits) -> None:
    """One line per impossible setting, named by argument."""
    bad = sorted({int(d) for d in digits or []} - set(range(10)))
    if bad or (digits is not None and not settings["digits"]):
        raise SFTConfigError(f"digit_scenes digits: {bad or 'empty'}: digits are 0 to 9")
    low, high = settings["digit_px"]
    if not 8 <= low <= high <= settings["size"]:
        raise SFTConfigError(
            f"digit_scenes digit_px: {[low, high]}: need 8 <= smallest <= largest <= size "
            f"({settings['size']})"
        )
    for key in ("n_train", "n_val", "n_test"):
        if settings[key] < 0:
            raise SFTConfigError(f"digit_scenes {key}: {settings[key]}: a count of scenes >= 0")
    if settings["max_per_scene"] < 1:
        raise SFTConfigError(f"digit_scenes max_per_scene: {settings['max_per_scene']}: need >= 1")
    if not 0.0 <= settings["negatives"] <= 1.0:
        raise SFTConfigError(f"digit_scenes negatives: {settings['negatives']}: a share in [0, 1]")


def block_indices(targets: np.ndarray, digits: list[int], split: str) -> np.ndarray:
    """Indices into scikit-learn's digits of the split's samples of `digits` (BLOCKS)."""
    start, end = (round(f * len(targets)) for f in BLOCKS[split])
    index = np.arange(start, end)
    return index[np.isin(targets[start:end], digits)]


def _block(images: np.ndarray, targets: np.ndarray, chosen: list[int], split: str) -> list:
    """The split's samples of the chosen digits: (8x8 image in 0..1, class id)."""
    ids = {d: k + 1 for k, d in enumerate(chosen)}
    return [(images[i] / 16.0, ids[int(targets[i])]) for i in block_indices(targets, chosen, split)]


def draw_scene(rng: np.random.Generator, samples: list, settings: dict, count: int):
    """One scene with up to `count` digits drawn from `samples`.

    Returns (image uint8 [size, size, 3], mask uint8 [size, size] of class ids, instances:
    list of (class id, (x0, y0, x1, y1) inclusive ink pixel bounds, ink pixel count)).
    """
    size = settings["size"]
    low, high = settings["digit_px"]
    level = rng.uniform(8.0, 28.0)  # background brightness, mildly noisy below
    canvas = np.clip(rng.normal(level, 4.0, (size, size)), 0.0, 255.0)
    mask = np.zeros((size, size), dtype=np.uint8)
    instances, boxes = [], []
    for _ in range(count):
        digit, class_id = samples[int(rng.integers(len(samples)))]
        side = int(rng.integers(low, high + 1))
        soft = np.asarray(
            Image.fromarray(digit.astype(np.float32)).resize((side, side), Image.BILINEAR)
        )
        ink = soft > INK
        if not ink.any():
            continue
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        for _ in range(PLACEMENT_TRIES):
            top, left = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = (left + cols[0], top + rows[0], left + cols[-1], top + rows[-1])
            if not any(_near(box, other) for other in boxes):
                break
        else:
            continue
        boxes.append(box)
        brightness = rng.uniform(180.0, 255.0)
        window = (slice(top, top + side), slice(left, left + side))
        # only the ink is drawn: everything visible of a digit lies in its mask and box
        patch = canvas[window]  # a view: writing it writes the canvas
        patch[ink] = np.maximum(patch[ink], soft[ink] * brightness)
        mask[window][ink] = class_id
        instances.append((class_id, tuple(int(v) for v in box), int(ink.sum())))
    image = np.repeat(canvas.round().astype(np.uint8)[:, :, None], 3, axis=2)
    return image, mask, instances


def _near(a, b) -> bool:
    """Whether two inclusive pixel boxes (x0, y0, x1, y1) come within GAP pixels."""
    return a[0] <= b[2] + GAP and b[0] <= a[2] + GAP and a[1] <= b[3] + GAP and b[1] <= a[3] + GAP


def _write_split(folder: Path, n: int, rng, samples: list, settings: dict) -> dict:
    """Draw and write one split's scenes; returns its counts."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    negatives = set(rng.permutation(n)[: round(n * settings["negatives"])].tolist())
    coco = {"images": [], "annotations": [], "categories": []}
    for k, digit in enumerate(settings["digits"]):
        coco["categories"].append({"id": k + 1, "name": str(digit), "supercategory": "digit"})
    for i in range(n):
        count = 0 if i in negatives else int(rng.integers(1, settings["max_per_scene"] + 1))
        image, mask, instances = draw_scene(rng, samples, settings, count)
        name = f"{i:05d}.png"
        Image.fromarray(image).save(folder / "images" / name)
        Image.fromarray(mask).save(folder / "masks" / name)
        image_id = i + 1
        coco["images"].append(
            {"id": image_id, "file_name": name, "width": mask.shape[1], "height": mask.shape[0]}
        )
        for class_id, (x0, y0, x1, y1), area in instances:
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": class_id,
                    # pixel i covers [i, i + 1): the box's far edges are one past the ink
                    "bbox": [x0, y0, x1 + 1 - x0, y1 + 1 - y0],
                    "area": area,  # the ink's pixels, as COCO's area is the mask's
                    "iscrowd": 0,
                }
            )
    _dump(folder / "instances.json", coco)
    empty = n - len({a["image_id"] for a in coco["annotations"]})
    return {"images": n, "objects": len(coco["annotations"]), "negatives": empty}


def _dump(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    """`python -m sft.data.digit_scenes --root DIR ...`: write the scenes, print the folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder to write under")
    parser.add_argument("--n-train", type=int, default=400, help="train scenes")
    parser.add_argument("--n-val", type=int, default=100, help="validation scenes")
    parser.add_argument("--n-test", type=int, default=100, help="test scenes")
    parser.add_argument("--size", type=int, default=96, help="canvas side in pixels")
    parser.add_argument("--digits", type=int, nargs="+", default=None, help="classes, 0-9")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawing")
    parser.add_argument("--digit-px", type=int, nargs=2, default=(20, 36), help="min max side")
    parser.add_argument("--max-per-scene", type=int, default=3, help="digits per scene, at most")
    parser.add_argument("--negatives", type=float, default=0.1, help="share of empty scenes")
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "root"}
    print(write_scenes(args.root, **options))


if __name__ == "__main__":
    main()
