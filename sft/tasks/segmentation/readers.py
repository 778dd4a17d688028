"""Read images with their masks (a PNG of class ids per image) and the class names: a folder
with `images/`, `masks/` and `id2label.json`, or a 🤗 dataset saved with `save_to_disk` with
an image and a mask Image column. Every pair is checked once, when it is read: the image
decodes, its mask exists, has its size and holds only known class ids (or 255, ignored);
errors are one line naming the file (or the dataset row) and the pixel value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sft.data.media import IMAGE_EXTENSIONS, load_image
from sft.errors import SFTConfigError, SFTDataError

IGNORE = 255  # a mask pixel that is neither trained on nor scored (the HF processors' value)
ID2LABEL = "id2label.json"
# Lossless formats only: JPEG compression turns class ids at region borders into other ids.
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif")
MASK_MODES = ("1", "L", "P", "I", "I;16")  # one channel of integers (P: palette indices)


@dataclass
class MaskedImages:
    """The image and mask pairs of one split: file paths, sizes (width, height), pixels per
    class [n, k] int64 (ids after `reduce_labels`), ignored pixels per image, each pair's
    number in its source (1-based) and the lines that name it in errors."""

    source: str
    names: list[str]
    images: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    ignored: list[int] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    places: list[str] = field(default_factory=list)  # where a mask is, for error lines

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> MaskedImages:
        """The pairs at `index` (positions), in that order, with their numbers."""
        index = list(index)
        return MaskedImages(
            self.source,
            self.names,
            [self.images[i] for i in index],
            [self.masks[i] for i in index],
            [self.sizes[i] for i in index],
            self.pixels[index],
            [self.ignored[i] for i in index],
            [self.numbers[i] for i in index],
            [self.places[i] for i in index],
        )

    def record(self, i: int) -> dict:
        """{"image": path, "mask": path, "width": int, "height": int} of the pair at `i`."""
        width, height = self.sizes[i]
        return {"image": self.images[i], "mask": self.masks[i], "width": width, "height": height}

    @property
    def texts(self) -> list[str]:
        """The image paths: an example's input, as for the image classification modules
        (data report duplicates and leakage, model card, the logged model's input example)."""
        return self.images

    @property
    def rows(self) -> np.ndarray:
        return np.asarray(self.numbers, dtype=np.int64)

    @property
    def labels(self) -> list[dict[str, int]]:
        """Pixels per class name of each pair (the task's label_counts sums them)."""
        return [
            {
                **{n: int(c) for n, c in zip(self.names, row) if c},
                **({"(ignored)": ignored} if ignored else {}),
            }
            for row, ignored in zip(self.pixels, self.ignored)
        ]


def read_id2label(path: Path, key: str) -> list[str]:
    """Class names in id order from an id2label JSON file ({"0": "background", ...}): ids
    0..k-1, each once; 255 is the ignore value and cannot name a class. SFTDataError naming
    the file otherwise."""
    if not path.is_file():
        raise SFTDataError(
            f"{key}: {path} not found (a JSON object of class id -> name, "
            f'{{"0": "background", "1": "..."}}; or set data.label_names)'
        )
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise SFTDataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(mapping, dict) or not mapping:
        raise SFTDataError(f"{path}: expected a JSON object of class id -> name")
    try:
        by_id = {int(i): name for i, name in mapping.items()}
    except ValueError:
        bad = next(i for i in mapping if not str(i).lstrip("-").isdigit())
        raise SFTDataError(f"{path}: key '{bad}' is not a class id (an integer)") from None
    ids = sorted(by_id)
    if IGNORE in ids:
        raise SFTDataError(f"{path}: id {IGNORE} is the ignore value and cannot name a class")
    if ids != list(range(len(ids))):
        missing = sorted(set(range(max(ids) + 1)) - set(ids)) or ids[:1]
        raise SFTDataError(
            f"{path}: class ids must be 0..{len(ids) - 1} without gaps (missing or out of "
            f"order: {missing[0]})"
        )
    names = [by_id[i] for i in ids]
    return check_names(names, str(path))


def check_names(names, where: str) -> list[str]:
    """Class names: a non-empty list of distinct, non-empty strings."""
    names = [str(n) for n in names]
    if not names or any(not n.strip() for n in names):
        raise SFTDataError(f"{where}: class names must be non-empty strings")
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise SFTDataError(f"{where}: class name '{sorted(seen)[0]}' is given twice")
    return names


def read_mask(path: str, place: str) -> np.ndarray:
    """The class ids of a mask file as int64 [height, width]; SFTDataError naming `place` for
    a file that does not decode or has colour channels."""
    from PIL import Image, UnidentifiedImageError  # lazy: as sft.data.media

    try:
        with Image.open(path) as mask:
            mode = mask.mode
            if mode not in MASK_MODES:
                raise SFTDataError(
                    f"{place}: the mask is a {mode} image; a mask is a single-channel PNG of "
                    f"class ids (mode L or P)"
                )
            return np.asarray(mask, dtype=np.int64)
    except FileNotFoundError:
        raise SFTDataError(f"{place}: mask file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise SFTDataError(f"{place}: not a readable mask ({err})") from None


def to_ids(raw: np.ndarray, reduce_labels: bool) -> np.ndarray:
    """Raw mask values -> class ids (int64). reduce_labels, as the HF image processors define
    it (`do_reduce_labels`: value 0, a background not trained on, becomes 255; every other
    value v becomes v - 1; 255 stays 255)."""
    if not reduce_labels:
        return raw
    ids = raw - 1
    ids[(raw == 0) | (raw == IGNORE)] = IGNORE
    return ids


def check_pair(
    image: str, mask: str, names: list[str], reduce_labels: bool, where: tuple[str, str]
) -> tuple[tuple[int, int], np.ndarray, int]:
    """Decode the image and its mask and check them: same size, values among the class ids
    (or 255). Returns the size (width, height), pixels per class (k,) and ignored pixels.
    `where`: how errors name the image and the mask (their paths, or a dataset row)."""
    try:
        size = load_image(image).size
    except SFTDataError as err:
        raise SFTDataError(str(err).replace(image, where[0], 1)) from None
    raw = read_mask(mask, where[1])
    if (raw.shape[1], raw.shape[0]) != size:
        raise SFTDataError(
            f"{where[1]}: the mask is {raw.shape[1]}x{raw.shape[0]} pixels but its image "
            f"{where[0]} is {size[0]}x{size[1]} (width x height)"
        )
    k = len(names)
    allowed = k + 1 if reduce_labels else k  # raw values 0..allowed-1, and 255
    values = np.unique(raw)
    bad = values[((values < 0) | (values >= allowed)) & (values != IGNORE)]
    if bad.size:
        known = f"0..{allowed - 1}"
        if reduce_labels:
            known += " (data.reduce_labels: 0 is ignored)"
        raise SFTDataError(
            f"{where[1]}: pixel value {int(bad[0])} is not a class id of id2label "
            f"({known}; {IGNORE} = ignore)"
        )
    ids = to_ids(raw, reduce_labels).ravel()
    counts = np.bincount(ids[ids != IGNORE], minlength=k)[:k]
    return size, counts.astype(np.int64), int((ids == IGNORE).sum())


def collect(found: MaskedImages, pairs, reduce_labels: bool) -> MaskedImages:
    """Check every (image, mask, where) of `pairs` and add it to `found`."""
    rows = []
    for number, (image, mask, where) in enumerate(pairs, start=1):
        size, counts, ignored = check_pair(image, mask, found.names, reduce_labels, where)
        found.images.append(image)
        found.masks.append(mask)
        found.sizes.append(size)
        found.ignored.append(ignored)
        found.numbers.append(number)
        found.places.append(where[1])
        rows.append(counts)
    if not rows:
        raise SFTDataError(f"{found.source}: no images")
    found.pixels = np.stack(rows)
    return found


def read_folder(path: str, key: str, names: list[str], reduce_labels: bool) -> MaskedImages:
    """The pairs of a folder with `images/` and `masks/` (a mask is the PNG with its image's
    file stem). SFTDataError for a missing subfolder, an image without a mask or a mask
    without an image (naming the file), and for any pair check_pair refuses."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SFTDataError(f"{key}: folder not found: {path}")
    found = {}
    for sub, extensions in (("images", IMAGE_EXTENSIONS), ("masks", MASK_EXTENSIONS)):
        folder = root / sub
        if not folder.is_dir():
            raise SFTDataError(
                f"{key}: {root} has no {sub}/ folder (expected images/<name>.<ext>, "
                f"masks/<name>.png and {ID2LABEL})"
            )
        by_stem: dict[str, Path] = {}
        for file in sorted(folder.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            if file.suffix.lower() not in extensions:
                lossy = sub == "masks" and file.suffix.lower() in IMAGE_EXTENSIONS
                raise SFTDataError(
                    f"{file}: "
                    + (
                        "a mask must be lossless (PNG): JPEG changes class ids at edges"
                        if lossy
                        else f"not an image file ({'/'.join(extensions)})"
                    )
                )
            if file.stem in by_stem:
                raise SFTDataError(f"{file}: {by_stem[file.stem].name} has the same name stem")
            by_stem[file.stem] = file
        found[sub] = by_stem
    images, masks = found["images"], found["masks"]
    for stem, file in images.items():
        if stem not in masks:
            raise SFTDataError(f"{file}: no mask for this image (expected {root}/masks/{stem}.png)")
    for stem, file in masks.items():
        if stem not in images:
            raise SFTDataError(f"{file}: no image for this mask in {root}/images/")
    pairs = [
        (str(images[s].resolve()), str(masks[s].resolve()), (str(images[s]), str(masks[s])))
        for s in sorted(images)
    ]
    return collect(MaskedImages(str(root), names), pairs, reduce_labels)


def label_names(path: str, id2label, given, key: str) -> list[str]:
    """The class names: `given` (data.label_names, a list in id order), else the id2label
    JSON file at `id2label`, else `<path>/id2label.json`."""
    if given:
        if id2label:
            raise SFTConfigError("data.label_names and data.id2label: give one of them")
        return check_names(list(given), "data.label_names")
    file = Path(id2label).expanduser() if id2label else Path(path).expanduser() / ID2LABEL
    return read_id2label(file, "data.id2label" if id2label else key)


def fingerprint(found: MaskedImages) -> str:
    """sha256 over each pair's file names, sizes in bytes and per-class pixel counts (the
    masks are read anyway, so their content counts; images by size)."""
    digest = hashlib.sha256(found.source.encode())
    for image, mask, row in zip(found.images, found.masks, found.pixels):
        digest.update(
            f"{Path(image).name}|{Path(image).stat().st_size}|{Path(mask).name}|".encode()
        )
        digest.update(row.tobytes())
    return digest.hexdigest()
