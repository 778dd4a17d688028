"""Read a detection split (images and their boxes, sft.tasks.detection.scenes.Scenes) from
the three forms people export: COCO `instances.json` + an image folder (CVAT, Roboflow,
Label Studio), an image folder with `metadata.jsonl` whose `objects` hold `bbox` and
`category` lists (what transformers' run_object_detection.py example reads), and a 🤗
dataset saved with `save_to_disk` with an `image` and an `objects` column (the same shape).

Every box and image is checked as it is read (scenes.check_box, scenes.image_size); COCO
crowd annotations (`iscrowd: 1`) are skipped, as the DETR image processors and COCOeval
skip them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.detection.scenes import Scenes, check_box, image_size, record

FORMATS = ("auto", "coco", "imagefolder", "hf_dataset")
METADATA = "metadata.jsonl"
ID2LABEL = "id2label.json"


def resolve_format(path: str, format: str) -> str:
    """The reader of `path`: `format`, or (auto) coco for a .json file, imagefolder for
    metadata.jsonl or a folder holding one, hf_dataset for any other folder."""
    if format not in FORMATS:
        raise SFTConfigError(f"data.format={format}: unknown format (use {', '.join(FORMATS)})")
    if format != "auto":
        return format
    local = Path(path).expanduser()
    if local.is_dir():
        return "imagefolder" if (local / METADATA).is_file() else "hf_dataset"
    return "coco" if local.suffix.lower() == ".json" else "imagefolder"


def read_scenes(
    path: str,
    key: str,
    format: str = "auto",
    image_dir: str | None = None,
    split_names: tuple[str, ...] = ("train",),
    implicit: bool = False,
    media_dir: str | None = None,
) -> tuple[Scenes | None, str]:
    """The split at `path` (config key `key`) and a fingerprint of its source (sha256 of the
    annotation file, or of a saved dataset's state files). `image_dir`: COCO's image folder;
    `split_names`/`implicit`/`media_dir`: a saved dataset's split (None when an implicit one
    is absent) and where its embedded image bytes are written."""
    kind = resolve_format(path, format)
    local = Path(path).expanduser()
    if kind == "hf_dataset":
        return read_saved(path, key, split_names, implicit, media_dir), _state_digest(local)
    if kind == "imagefolder" and local.is_dir():
        local = local / METADATA
    if not local.is_file():
        raise SFTDataError(f"{key}: file not found: {path}")
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    if kind == "coco":
        return read_coco(local, image_dir), digest
    return read_metadata(local), digest


def read_coco(path: Path, image_dir: str | None = None) -> Scenes:
    """COCO `instances.json`: `images` (id, file_name, width, height), `categories` (the
    label names in their listed order; ids need not be contiguous), `annotations` (id,
    image_id, category_id, bbox xywh). Images are looked up under `image_dir`, else beside
    the file, in its `images/` folder, or in `../images` (CVAT's layout)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SFTDataError(f"{path}: not a JSON file ({err})") from None
    for part in ("images", "annotations", "categories"):
        if not isinstance(data.get(part) if isinstance(data, dict) else None, list):
            raise SFTDataError(f"{path}: no '{part}' list (not a COCO instances file)")
    categories = {}
    for cat in data["categories"]:
        if cat.get("id") in categories or not isinstance(cat.get("name"), str):
            raise SFTDataError(f"{path}: category {cat!r}: duplicate id or no name")
        categories[cat["id"]] = len(categories)
    names = [c["name"] for c in data["categories"]]
    if len(set(names)) != len(names):
        raise SFTDataError(f"{path}: two categories share a name ({', '.join(names)})")
    folder = _image_folder(path, data["images"], image_dir)
    images = {}
    for image in data["images"]:
        where = f"{path} image {image.get('id')} ({image.get('file_name')})"
        if image.get("id") in images or "file_name" not in image:
            raise SFTDataError(f"{where}: duplicate image id or no file_name")
        file = folder / str(image["file_name"])
        size = image_size(file, where)
        declared = (image.get("width"), image.get("height"))
        if declared != (None, None) and tuple(declared) != size:
            raise SFTDataError(
                f"{where}: the file is {size[0]}x{size[1]} pixels but the annotation "
                f"file says {declared[0]}x{declared[1]}"
            )
        images[image["id"]] = {
            "image": file,
            "size": size,
            "boxes": [],
            "labels": [],
            "ann_ids": [],
        }
    for ann in data["annotations"]:
        where = f"{path} annotation {ann.get('id')}"
        target = images.get(ann.get("image_id"))
        if target is None:
            raise SFTDataError(
                f"{where}: image_id {ann.get('image_id')!r} has no image in 'images'"
            )
        if ann.get("category_id") not in categories:
            raise SFTDataError(
                f"{where}: unknown category_id {ann.get('category_id')!r} (categories: "
                f"{', '.join(str(c) for c in categories)})"
            )
        if ann.get("iscrowd", 0):
            continue
        where += f" (image {ann['image_id']})"
        width, height = target["size"]
        target["boxes"].append(check_box(ann.get("bbox"), width, height, where))
        target["labels"].append(categories[ann["category_id"]])
        target["ann_ids"].append(int(ann.get("id", len(target["ann_ids"]) + 1)))
    found = Scenes(str(path), names=names)
    for image_id, item in images.items():
        found.records.append(
            record(
                item["image"],
                image_id,
                item["size"],
                item["boxes"],
                item["labels"],
                item["ann_ids"],
            )
        )
        found.numbers.append(int(image_id))
    return found


def _image_folder(path: Path, images: list, image_dir: str | None) -> Path:
    """Where the COCO file's images are: `image_dir`, else the first of the usual places
    that holds its first image."""
    if image_dir is not None:
        folder = Path(image_dir).expanduser()
        if not folder.is_dir():
            raise SFTDataError(f"data.image_dir: folder not found: {image_dir}")
        return folder
    candidates = [path.parent, path.parent / "images", path.parent.parent / "images"]
    first = str(images[0].get("file_name", "")) if images else ""
    return next((c for c in candidates if (c / first).is_file()), path.parent)


def read_metadata(path: Path) -> Scenes:
    """An image folder's `metadata.jsonl`: one JSON object per line with `file_name`
    (relative to the folder) and `objects` {"bbox": [[x, y, w, h], ...], "category": [...]}
    (optional `id`: the annotation ids). Categories are names, or ints named by the folder's
    `id2label.json` (else by their numbers)."""
    id2label = None
    if (path.parent / ID2LABEL).is_file():
        id2label = {
            int(k): str(v) for k, v in json.loads((path.parent / ID2LABEL).read_text()).items()
        }
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SFTDataError(f"{where}: not JSON ({err})") from None
        if not isinstance(row, dict) or "file_name" not in row:
            raise SFTDataError(f"{where}: no 'file_name'")
        rows.append((number, path.parent / str(row["file_name"]), row.get("objects")))
    return scenes_of(str(path), "line", rows, id2label)


def read_saved(
    path: str, key: str, split_names: tuple[str, ...], implicit: bool, media_dir: str | None
) -> Scenes | None:
    """A 🤗 dataset saved with `save_to_disk`: its `image` column (an Image feature; embedded
    bytes are written once under `media_dir`, sft.data.hf_media) and its `objects` column
    (as in read_metadata; a ClassLabel `category` names the classes). The split is the first
    of `split_names` it has (its only split for train); None when `implicit` and absent."""
    from sft.data.hf_media import media_files  # lazy: imports datasets (~1 s)
    from sft.data.hf_sources import class_names, open_dataset

    dataset = open_dataset(path, None, key=key)
    available = list(dataset.keys())
    name = next((n for n in split_names if n in available), None)
    if name is None and implicit:
        return None
    if name is None and len(available) == 1:
        name = available[0]
    if name is None:
        raise SFTDataError(
            f"{key}: {path} has no split '{split_names[0]}' (splits: {', '.join(available)})"
        )
    part, source = dataset[name], f"{path} (split '{name}')"
    for column in ("image", "objects"):
        if column not in part.features:
            raise SFTDataError(
                f"{key}: {source} has no column '{column}' (columns: {', '.join(part.features)})"
            )
    files = media_files(part, "image", "image", media_dir, source, key)
    feature = part.features["objects"]
    inner = feature.feature if hasattr(feature, "feature") else feature
    labels = class_names(inner.get("category")) if isinstance(inner, dict) else []
    rows = list(zip(range(1, len(files) + 1), files, part["objects"]))
    return scenes_of(source, "row", rows, dict(enumerate(labels)) if labels else None)


def scenes_of(source: str, unit: str, rows, id2label: dict | None) -> Scenes:
    """Scenes of (number, image path, objects) rows; `unit` names a row in errors (line,
    row). Label names: `id2label` (int categories), else the sorted category names (or
    numbers) found."""
    found, raw = Scenes(source, unit=unit), []
    for number, file, objects in rows:
        where = f"{source} {unit} {number}"
        size = image_size(file, where)
        boxes, categories, ids = _objects(objects, where)
        checked = [
            check_box(b, size[0], size[1], f"{where} object {i}") for i, b in enumerate(boxes, 1)
        ]
        found.records.append(record(file, number, size, checked, [], ids))
        found.numbers.append(number)
        raw.append(categories)
    if id2label is None:
        found_ids = {c for cats in raw for c in cats}
        id2label = {c: str(c) for c in sorted(found_ids, key=lambda c: (isinstance(c, str), c))}
    # A category is its key in id2label (an int, or the name itself) or its name.
    lookup = {name: i for i, name in enumerate(id2label.values())}
    lookup.update({key: i for i, key in enumerate(id2label)})
    for item, number, categories in zip(found.records, found.numbers, raw):
        for i, c in enumerate(categories, 1):
            if not isinstance(c, (int, str)) or isinstance(c, bool) or c not in lookup:
                raise SFTDataError(
                    f"{source} {unit} {number} object {i}: unknown category {c!r} "
                    f"(known: {', '.join(f'{k} ({v})' for k, v in id2label.items())})"
                )
        item["labels"] = np.asarray([lookup[c] for c in categories], dtype=np.int64)
    found.names = [str(v) for v in id2label.values()]
    return found


def _objects(objects, where: str) -> tuple[list, list, list[int]]:
    """(boxes, categories, annotation ids) of one row's `objects`: a dict of lists (or a list
    of dicts, as datasets may give a list-of-structs feature)."""
    if objects is None:
        return [], [], []
    if isinstance(objects, list):  # [{"bbox": ..., "category": ...}, ...]
        objects = {k: [o.get(k) for o in objects] for k in ("bbox", "category", "id")}
    if not isinstance(objects, dict):
        raise SFTDataError(f'{where}: \'objects\' is not {{"bbox": [...], "category": [...]}}')
    boxes, categories = list(objects.get("bbox") or []), list(objects.get("category") or [])
    if len(boxes) != len(categories):
        raise SFTDataError(
            f"{where}: {len(boxes)} boxes but {len(categories)} categories in 'objects'"
        )
    ids = objects.get("id")
    ids = list(ids) if ids and all(isinstance(i, int) for i in ids) else range(1, len(boxes) + 1)
    return boxes, categories, list(ids)


def files_digest(annotations: str, paths: list[str]) -> str:
    """sha256 over the annotations' digest and each image's name and size (the run's data
    fingerprint; image contents are not read again: a folder can be large)."""
    digest = hashlib.sha256(annotations.encode())
    for path in paths:
        digest.update(f"{Path(path).name}|{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()


def _state_digest(path: Path) -> str:
    """sha256 of a saved dataset's state files (they record its Arrow files' fingerprints)."""
    digest = hashlib.sha256()
    for state in sorted(path.rglob("*.json")):
        digest.update(state.read_bytes())
    return digest.hexdigest()
