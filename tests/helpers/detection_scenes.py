"""Builders shared by the detection tests: small synthetic image sets with exact boxes, in
each form the detection readers take (the tiny detector: tests/helpers/task_models.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

# Class -> the colour its rectangles are painted in (a tiny detector can tell them apart).
DETECTION_CLASSES = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 230)}


def paint_scene(path: Path, size: tuple[int, int], boxes, classes) -> Path:
    """A PNG of `size` (width, height), grey, with each COCO box [x, y, w, h] filled in its
    class's colour (DETECTION_CLASSES)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (128, 128, 128))
    pen = ImageDraw.Draw(image)
    for (x, y, w, h), name in zip(boxes, classes):
        pen.rectangle([x, y, x + w - 1, y + h - 1], fill=DETECTION_CLASSES[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def random_scenes(n: int, seed: int, size=(64, 64), negatives: int = 1) -> list[dict]:
    """`n` scenes {"file_name", "size", "boxes" (COCO xywh), "classes"}: one or two
    non-overlapping rectangles each, the last `negatives` scenes without any."""
    rng = random.Random(seed)
    names = list(DETECTION_CLASSES)
    scenes = []
    for i in range(n):
        count = 0 if i >= n - negatives else rng.randint(1, 2)
        boxes = []
        for j in range(count):  # the left and the right half: never overlapping
            w, h = rng.randint(12, 24), rng.randint(12, 24)
            x = rng.randint(0, size[0] // 2 - w) + j * size[0] // 2
            boxes.append([x, rng.randint(0, size[1] - h), w, h])
        scenes.append(
            {
                "file_name": f"img{i:03d}.png",
                "size": size,
                "boxes": boxes,
                "classes": [rng.choice(names) for _ in boxes],
            }
        )
    return scenes


def write_coco_set(folder: Path, scenes: list[dict], images_subdir: str = "") -> Path:
    """The scenes as painted PNGs (under folder/images_subdir) and folder/instances.json
    (category ids 1, 3, 5: not contiguous); returns the json's path."""
    ids = {name: 2 * i + 1 for i, name in enumerate(DETECTION_CLASSES)}
    images, annotations = [], []
    for image_id, scene in enumerate(scenes, 1):
        paint_scene(
            folder / images_subdir / scene["file_name"],
            scene["size"],
            scene["boxes"],
            scene["classes"],
        )
        width, height = scene["size"]
        images.append(
            {"id": image_id, "file_name": scene["file_name"], "width": width, "height": height}
        )
        for box, name in zip(scene["boxes"], scene["classes"]):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[name],
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": name} for name, i in ids.items()]
    path = folder / "instances.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def write_metadata_set(folder: Path, scenes: list[dict], id2label: bool = False) -> Path:
    """The scenes as painted PNGs and folder/metadata.jsonl with `objects` (class names, or
    class ids with an id2label.json when `id2label`); returns the jsonl's path."""
    names = list(DETECTION_CLASSES)
    lines = []
    for scene in scenes:
        paint_scene(folder / scene["file_name"], scene["size"], scene["boxes"], scene["classes"])
        categories = [names.index(c) if id2label else c for c in scene["classes"]]
        lines.append(
            json.dumps(
                {
                    "file_name": scene["file_name"],
                    "objects": {"bbox": scene["boxes"], "category": categories},
                }
            )
        )
    if id2label:
        (folder / "id2label.json").write_text(json.dumps(dict(enumerate(names))))
    path = folder / "metadata.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
