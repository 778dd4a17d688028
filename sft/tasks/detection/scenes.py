"""The images of one detection split with their boxes (`Scenes`), and the rules every box and
image must follow, checked when the split is read: errors name the file and the annotation
id (COCO) or the line/row and object number.

A record: {"image": str path, "image_id": int, "width": int, "height": int, "boxes": float64
[n,4] COCO xywh in pixels, "labels": int64 [n] (index into `Scenes.names`), "ann_ids":
list[int]}. An image with no boxes is a valid negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sft.errors import SFTDataError

# A box may overshoot the image by this many pixels (rounding in annotation tools); it is
# clipped to the image. A larger overshoot is refused: the box was drawn for another size.
TOLERANCE_PX = 1.0


@dataclass
class Scenes:
    """The records of one split, the label names their `labels` index, each record's number
    in its source (COCO image id, JSONL line or dataset row: the data report's rows) and the
    source's name for error lines."""

    source: str
    records: list[dict] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    unit: str = "image"  # what a number counts: COCO image ids, JSONL lines, dataset rows

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, index) -> Scenes:
        """The records at `index` (positions), in that order."""
        return Scenes(
            self.source,
            [self.records[i] for i in index],
            list(self.names),
            [self.numbers[i] for i in index],
            self.unit,
        )

    @property
    def texts(self) -> list[str]:
        """The image paths (the data report, the logged model's input example)."""
        return [r["image"] for r in self.records]

    @property
    def rows(self) -> np.ndarray:
        return np.asarray(self.numbers, dtype=np.int64)

    @property
    def labels(self) -> list[list[str]]:
        """The class names of each image's boxes ([] for a negative): the data report."""
        return [[self.names[i] for i in r["labels"]] for r in self.records]

    def relabel(self, names: list[str]) -> None:
        """Re-index every record's labels into `names` (the train split's label names);
        SFTDataError naming the annotation for a class `names` lacks."""
        index = {name: i for i, name in enumerate(names)}
        for number, record in zip(self.numbers, self.records):
            mapped = []
            for label, ann_id in zip(record["labels"].tolist(), record["ann_ids"]):
                name = self.names[label]
                if name not in index:
                    raise SFTDataError(
                        f"{self.where(number, ann_id)}: category '{name}' does not occur in "
                        f"the train split's categories ({', '.join(names)})"
                    )
                mapped.append(index[name])
            record["labels"] = np.asarray(mapped, dtype=np.int64)
        self.names = list(names)

    def where(self, number: int, ann_id: int) -> str:
        """The start of an error line about one box: COCO's annotation id and image id, or
        the line/row and the object's number (its id when the data give ids)."""
        if self.unit == "image":
            return f"{self.source} annotation {ann_id} (image {number})"
        return f"{self.source} {self.unit} {number} object {ann_id}"


def record(path, image_id, size, boxes, labels, ann_ids) -> dict:
    """One image's record (the module docstring's fields); `size` is (width, height)."""
    return {
        "image": str(path),
        "image_id": int(image_id),
        "width": int(size[0]),
        "height": int(size[1]),
        "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        "labels": np.asarray(labels, dtype=np.int64).reshape(-1),
        "ann_ids": [int(a) for a in ann_ids],
    }


def check_box(bbox, width: int, height: int, where: str) -> list[float]:
    """A COCO box [x, y, w, h] (pixels) checked against a `width` x `height` image and
    clipped to it when it overshoots by at most TOLERANCE_PX. SFTDataError (starting with
    `where`) for a box that is not four finite numbers, has a non-positive width or height,
    or reaches further outside the image."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise SFTDataError(f"{where}: bbox {bbox!r} is not four numbers [x, y, width, height]")
    x, y, w, h = values
    shown = "[" + ", ".join(f"{v:g}" for v in values) + "]"
    if w <= 0 or h <= 0:
        raise SFTDataError(
            f"{where}: bbox {shown} has a non-positive width or height ([x, y, width, height])"
        )
    over = max(-x, -y, x + w - width, y + h - height)
    if over > TOLERANCE_PX:
        raise SFTDataError(
            f"{where}: bbox {shown} reaches {over:g} px outside the {width}x{height} image "
            f"(up to {TOLERANCE_PX:g} px is clipped)"
        )
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        raise SFTDataError(f"{where}: bbox {shown} has no area inside the {width}x{height} image")
    return [x0, y0, x1 - x0, y1 - y0]


def image_size(path, where: str) -> tuple[int, int]:
    """(width, height) of the image file at `path`, after PIL has checked that it decodes
    (`verify`: the file's structure and checksums, without decoding every pixel).
    SFTDataError (starting with `where`) for a missing or undecodable file."""
    from PIL import Image, UnidentifiedImageError  # lazy: only when images are read

    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()
    except FileNotFoundError:
        raise SFTDataError(f"{where}: image file not found: {path}") from None
    except UnidentifiedImageError:  # its message repeats the path
        raise SFTDataError(
            f"{where}: cannot decode image {path} (not an image format PIL reads)"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:  # a known format, broken inside
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SFTDataError(f"{where}: cannot decode image {path} ({reason})") from None
    return size
