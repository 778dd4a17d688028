"""Pictures of predicted masks: the image with the predicted classes laid over it, beside
the same image with the ground truth, a fixed colour per class (a class named "background"
is left untinted, so the picture stays visible) and a legend of the classes shown."""

from __future__ import annotations

import numpy as np

from sft.data.media import load_image
from sft.tasks.segmentation.readers import IGNORE

# Distinct colours for the first classes (Glasbey-like: far apart for the eye); later ids get
# a colour from a fixed hash of the id, so a class keeps its colour in every picture.
PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
]  # fmt: skip
ALPHA = 0.5  # share of the class colour in an overlaid pixel
HEADER = 14  # pixels above each half for its caption
# Small images are enlarged (nearest neighbour, a whole factor) to about this many pixels a
# side, so that a thin mask and the captions stay readable.
ENLARGE_TO = 256
UNTINTED = "background"  # the class name that gets no colour


def colour(class_id: int) -> tuple[int, int, int]:
    """The fixed RGB colour of a class id."""
    if class_id < len(PALETTE):
        return PALETTE[class_id]
    state = np.random.default_rng(class_id)  # seeded by the id: the same colour every time
    return tuple(int(v) for v in state.integers(40, 256, size=3))


def overlay(image: np.ndarray, label_map: np.ndarray, plain: tuple[int, ...] = ()) -> np.ndarray:
    """uint8 [h, w, 3]: each pixel blended with its class colour (ALPHA); pixels of 255 and
    of the `plain` class ids left as they are."""
    colours = np.zeros((256, 3), dtype=np.float32)
    for class_id in np.unique(label_map):
        if class_id != IGNORE:
            colours[int(class_id)] = colour(int(class_id))
    tinted = colours[np.clip(label_map, 0, 255)]
    keep = np.isin(label_map, [IGNORE, *plain])[..., None]
    blend = image.astype(np.float32) * (1 - ALPHA) + tinted * ALPHA
    return np.where(keep, image, np.rint(blend)).astype(np.uint8)


def as_array(label_map, size: tuple[int, int]) -> np.ndarray:
    """A label map (tensor or array) as int64 [height, width] at `size` (width, height),
    resized nearest-neighbour when it differs (a train-time crop)."""
    from PIL import Image  # lazy: with load_image

    array = np.asarray(label_map.cpu() if hasattr(label_map, "cpu") else label_map)
    array = array.astype(np.int64)
    if (array.shape[1], array.shape[0]) != tuple(size):
        resized = Image.fromarray(array.astype(np.uint8)).resize(size, Image.NEAREST)
        array = np.asarray(resized, dtype=np.int64)
    return array


def scale_of(size: tuple[int, int]) -> int:
    """The whole factor a picture of an image of `size` (width, height) is enlarged by."""
    return max(1, ENLARGE_TO // max(size))


def draw(path: str, pred, target, label_names: list[str]):
    """PIL image (2 x width, height + HEADER + legend, the image enlarged by `scale_of`):
    the image at `path` with the predicted label map `pred` overlaid (left) and with the
    ground truth `target` (right), captioned, and a legend of the classes in either."""
    from PIL import Image, ImageDraw  # lazy: only runs that draw pictures

    image = load_image(path)
    pixels = np.asarray(image)
    pred, target = as_array(pred, image.size), as_array(target, image.size)
    plain = tuple(i for i, name in enumerate(label_names) if name.lower() == UNTINTED)
    scale = scale_of(image.size)
    width, height = image.size[0] * scale, image.size[1] * scale
    shown = [int(c) for c in np.union1d(np.unique(pred), np.unique(target)) if c != IGNORE]
    legend = 12 * ((len(shown) + 1) // 2)
    canvas = Image.new("RGB", (2 * width, height + HEADER + legend), (255, 255, 255))
    for x, label_map in ((0, pred), (width, target)):
        panel = Image.fromarray(overlay(pixels, label_map, plain))
        canvas.paste(panel.resize((width, height), Image.NEAREST), (x, HEADER))
    pen = ImageDraw.Draw(canvas)
    pen.text((2, 1), "prediction", fill=(0, 0, 0))
    pen.text((width + 2, 1), "ground truth", fill=(0, 0, 0))
    for i, class_id in enumerate(shown):
        x, y = (i % 2) * width + 2, height + HEADER + 12 * (i // 2) + 1
        box = (x, y, x + 9, y + 9)
        if class_id in plain:  # no colour in the picture: an empty box
            pen.rectangle(box, fill=(255, 255, 255), outline=(0, 0, 0))
        else:
            pen.rectangle(box, fill=colour(class_id))
        name = label_names[class_id] if class_id < len(label_names) else str(class_id)
        pen.text((x + 13, y - 1), name, fill=(0, 0, 0))
    return canvas
