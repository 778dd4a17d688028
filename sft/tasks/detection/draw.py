"""Pictures of detections: an image with its predicted boxes (label and score) on the left
and its ground-truth boxes on the right, as the run logs them for a few val/test images."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

# Small images are enlarged (by a whole factor, nearest neighbour) until their shorter side
# is at least this many pixels, so that the labels stay readable beside the boxes.
MIN_SIDE = 256
FONT_PX = 14
MAX_BOXES = 30  # the highest-scoring predictions drawn; more hide the image
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
    (170, 110, 40),
]


def scale_for(width: int, height: int) -> int:
    """The whole factor an image of this size is enlarged by (1 when large enough)."""
    return max(1, math.ceil(MIN_SIDE / max(min(width, height), 1)))


def draw_pair(path: str, pred: dict, target: dict, label_names, threshold: float = 0.5):
    """A PIL image (2 * width * s, height * s), s = scale_for(width, height): the image at
    `path` with the boxes of `pred` ({"boxes" xyxy pixels, "scores", "labels"}) whose score
    is at least `threshold` (at most MAX_BOXES, best first) labelled "name 0.87", beside it
    with the boxes of `target` ({"boxes" xyxy pixels, "labels"}) labelled "name"."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    s = scale_for(*image.size)
    if s > 1:
        image = image.resize((image.width * s, image.height * s), Image.NEAREST)
    canvas = Image.new("RGB", (image.width * 2, image.height))
    canvas.paste(image, (0, 0))
    canvas.paste(image, (image.width, 0))
    pen = ImageDraw.Draw(canvas)
    # Pillow's bundled font at a readable size (its bitmap fallback without FreeType).
    font = ImageFont.load_default(size=FONT_PX)
    scores = [float(v) for v in pred["scores"]]
    keep = sorted((i for i, v in enumerate(scores) if v >= threshold), key=lambda i: -scores[i])
    for i in keep[:MAX_BOXES]:
        label = int(pred["labels"][i])
        text = f"{_name(label_names, label)} {scores[i]:.2f}"
        _box(pen, font, pred["boxes"][i], s, 0, label, text)
    for box, label in zip(target["boxes"], target["labels"]):
        _box(pen, font, box, s, image.width, int(label), _name(label_names, int(label)))
    pen.text((4, 2), "prediction", fill=(255, 255, 255), font=font)
    pen.text((image.width + 4, 2), "ground truth", fill=(255, 255, 255), font=font)
    return canvas


def _box(pen, font, box, scale: int, left: int, label: int, text: str) -> None:
    """One box (xyxy in image pixels) and its caption, `left` pixels into the canvas."""
    x0, y0, x1, y1 = (float(v) * scale for v in box)
    colour = PALETTE[label % len(PALETTE)]
    pen.rectangle([left + x0, y0, left + x1, y1], outline=colour, width=2)
    top = max(y0 - FONT_PX - 2, 0)
    pen.rectangle(pen.textbbox((left + x0, top), text, font=font), fill=colour)
    pen.text((left + x0, top), text, fill=(0, 0, 0), font=font)


def _name(label_names, label: int) -> str:
    names = list(label_names or [])
    return names[label] if 0 <= label < len(names) else str(label)
