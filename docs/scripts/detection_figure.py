"""The figure of docs/detection_segmentation.md: the first six test scenes with a detector's
boxes scoring at least `threshold` beside the true boxes (sft.tasks.detection.draw).

    python docs/scripts/detection_figure.py MODEL SCENES/test docs/digit_boxes_test.png 0.2

The run's own pictures (`<run folder>/pictures/`) draw at `data.threshold` (0.5); a detector
early in training scores its boxes lower, so the figure draws from a lower threshold.
"""

import json
import sys
from pathlib import Path

import torch
from PIL import Image

import sft
from sft.tasks.detection.draw import draw_pair


def xyxy(box: list[float]) -> list[float]:
    """COCO [x, y, width, height] -> [x0, y0, x1, y1]."""
    return [box[0], box[1], box[0] + box[2], box[1] + box[3]]


def main(model: str, split: str, out: str, threshold: str) -> None:
    split = Path(split)
    coco = json.loads((split / "instances.json").read_text())
    names = [c["name"] for c in coco["categories"]]
    predictor = sft.load(model)
    predictor.spec["threshold"] = float(threshold)
    images = coco["images"][:6]
    paths = [str(split / "images" / im["file_name"]) for im in images]
    pictures = []
    for image, path, record in zip(images, paths, predictor.predict(paths)):
        found = record["boxes"]
        pred = {
            "boxes": torch.tensor([b["box"] for b in found]).reshape(-1, 4),
            "scores": torch.tensor([b["score"] for b in found]),
            "labels": torch.tensor([names.index(b["label"]) for b in found], dtype=torch.long),
        }
        truth = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        target = {
            "boxes": torch.tensor([xyxy(a["bbox"]) for a in truth]).reshape(-1, 4),
            "labels": torch.tensor([a["category_id"] - 1 for a in truth], dtype=torch.long),
        }
        pictures.append(draw_pair(path, pred, target, names, float(threshold)))
    width, height = pictures[0].size
    grid = Image.new("RGB", (width * 2, height * 3), "black")
    for i, picture in enumerate(pictures):
        grid.paste(picture, ((i % 2) * width, (i // 2) * height))
    grid.save(out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
