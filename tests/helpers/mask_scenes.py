"""Image + mask folders for the segmentation tests (and data=masks in the shared config and
bad-input tests): small synthetic scenes with exact masks, written in seconds. The tiny
models are tests/helpers/task_models.py's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Scene classes: id -> (name, RGB colour its pixels are painted with).
SCENE_CLASSES = {
    0: ("background", (20, 20, 20)),
    1: ("square", (220, 40, 40)),
    2: ("disc", (40, 200, 60)),
    3: ("bar", (50, 80, 230)),
}
SEGMENTATION_LABELS = [name for name, _ in SCENE_CLASSES.values()]


def mask_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic scene: RGB uint8 [h, w, 3] and its mask uint8 [h, w] of class ids:
    a square, a disc and a bar (each present with probability 0.8) on a background,
    painted in their class colours with a little noise."""
    mask = np.zeros((height, width), dtype=np.uint8)
    ys, xs = np.mgrid[:height, :width]
    for class_id in (1, 2, 3):
        if rng.random() > 0.8:
            continue
        side = int(rng.integers(height // 5, height // 2))
        top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
        if class_id == 1:
            mask[top : top + side, left : left + side] = 1
        elif class_id == 2:
            centre = (top + side / 2, left + side / 2)
            mask[(ys - centre[0]) ** 2 + (xs - centre[1]) ** 2 <= (side / 2) ** 2] = 2
        else:
            mask[top : top + max(2, side // 4), left : left + side] = 3
    colours = np.array([colour for _, colour in SCENE_CLASSES.values()], dtype=np.int16)
    image = colours[mask] + rng.integers(-15, 16, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_mask_folder(
    root: Path,
    count: int,
    seed: int,
    sizes: tuple[tuple[int, int], ...] = ((64, 64), (48, 64)),
    ignore_border: bool = False,
) -> Path:
    """`root/images/<i>.jpg|png`, `root/masks/<i>.png` and `root/id2label.json`: `count`
    scenes cycling through `sizes` (height, width); `ignore_border`: a 2-pixel frame of
    255 (ignore) in every mask. Returns `root`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        height, width = sizes[i % len(sizes)]
        image, mask = mask_scene(rng, height, width)
        if ignore_border:
            mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 255, 255, 255, 255
        suffix = ".png" if i % 2 else ".jpg"  # both kinds of image file
        Image.fromarray(image).save(root / "images" / f"scene{i:03d}{suffix}")
        Image.fromarray(mask).save(root / "masks" / f"scene{i:03d}.png")
    write_id2label(root, SEGMENTATION_LABELS)
    return root


def write_id2label(root: Path, names: list[str]) -> Path:
    """`root/id2label.json` of `names` in id order."""
    path = root / "id2label.json"
    path.write_text(json.dumps({str(i): n for i, n in enumerate(names)}))
    return path
