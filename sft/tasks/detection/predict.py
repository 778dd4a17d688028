"""Images -> boxes with a trained detector: the image processor prepares them, the model
runs, the processor's post-processing turns its outputs into boxes in image pixels (clipped
to the image), and the boxes from the model's threshold become served records."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

import numpy as np
import torch

from sft.errors import SFTDataError


def detections(processor, outputs, target_sizes, threshold: float) -> list[dict]:
    """One {"boxes": float [n,4] xyxy pixels clipped to the image, "scores" [n], "labels"
    long [n]} per image, from `processor.post_process_object_detection` with `threshold`;
    `target_sizes` [B,2] (height, width) in pixels. Detached."""
    sizes = torch.as_tensor(target_sizes)
    found = processor.post_process_object_detection(
        outputs, threshold=threshold, target_sizes=sizes
    )
    out = []
    for item, (height, width) in zip(found, sizes.tolist()):
        boxes = item["boxes"].detach().float()
        # The box head's centre +- half size can reach past the image; the image is all
        # there is to find objects in.
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        out.append(
            {
                "boxes": boxes,
                "scores": item["scores"].detach().float(),
                "labels": item["labels"].detach().long(),
            }
        )
    return out


def open_image(value: str, where: str):
    """An input as an RGB PIL image: a file path, or base64 image bytes (what an HTTP
    client sends). SFTDataError naming `where` for anything else."""
    from PIL import Image, UnidentifiedImageError  # lazy: only when images are predicted

    text = str(value)
    try:
        if len(text) < 4096 and Path(text).expanduser().is_file():
            with Image.open(Path(text).expanduser()) as image:
                return image.convert("RGB")
        data = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (binascii.Error, ValueError):
        raise SFTDataError(f"{where}: neither an image file nor base64 image bytes") from None
    except (UnidentifiedImageError, OSError) as err:
        raise SFTDataError(f"{where}: cannot decode the image ({err})") from None


def _forward(predictor, inputs, batch_size: int, progress: bool):
    """(images, the model's outputs) batch by batch for image paths or base64 strings, each
    batch through the model's own image processor (`predictor.tokenizer`) and network
    (`predictor.runner.net`)."""
    processor, net = predictor.tokenizer, predictor.runner.net
    inputs = list(inputs)
    device = next(net.parameters()).device
    for start in _batches(len(inputs), batch_size, progress):
        images = [
            open_image(v, f"input {i + 1}")
            for i, v in enumerate(inputs[start : start + batch_size], start)
        ]
        encoded = processor(images=images, return_tensors="pt")
        feed = {"pixel_values": encoded["pixel_values"].to(device)}
        if "pixel_mask" in encoded:
            feed["pixel_mask"] = encoded["pixel_mask"].to(device)
        with torch.inference_mode():
            yield images, net(**feed)


def predict_boxes(predictor, inputs, batch_size: int = 8, progress: bool = False) -> list[dict]:
    """One {"boxes": [{"box": [x0, y0, x1, y1] pixels, "label": str, "score": float}, ...]}
    per input (an image path or base64 string), boxes with score >= the spec's `threshold`,
    best first. `predictor`: sft.inference.predictor.Predictor (`tokenizer` is the image
    processor, `runner.net` the transformers model)."""
    processor, net = predictor.tokenizer, predictor.runner.net
    threshold = float(predictor.spec.get("threshold", 0.5))
    names = list(predictor.spec.get("labels") or [])
    records = []
    for images, outputs in _forward(predictor, inputs, batch_size, progress):
        sizes = [(image.height, image.width) for image in images]
        for found in detections(processor, outputs, sizes, threshold):
            order = np.argsort(-found["scores"].cpu().numpy(), kind="stable")
            records.append(
                {
                    "boxes": [
                        {
                            "box": [round(float(v), 2) for v in found["boxes"][i].tolist()],
                            "label": _name(names, net, int(found["labels"][i])),
                            "score": float(found["scores"][i]),
                        }
                        for i in order
                    ]
                }
            )
    return records


def raw_outputs(predictor, inputs, batch_size: int = 8) -> np.ndarray:
    """Every query's class logits and box (normalized cx, cy, w, h) of every image, as one
    array [images x queries, classes (+1 for DETR's no-object) + 4] float32: what
    sft-export format=folder compares between a model and its copy."""
    rows = []
    for _, outputs in _forward(predictor, inputs, batch_size, False):
        both = torch.cat([outputs.logits, outputs.pred_boxes], dim=-1).float().cpu()
        rows.append(both.reshape(-1, both.shape[-1]).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def _name(names: list[str], net, label: int) -> str:
    """A class id's name: the model's labels, else its config's id2label."""
    if 0 <= label < len(names):
        return names[label]
    return str(net.config.id2label.get(label, label))


def _batches(total: int, batch_size: int, progress: bool):
    """The start of each batch, with a progress bar when asked."""
    starts = range(0, total, max(int(batch_size), 1))
    if not progress:
        return starts
    from tqdm import tqdm  # lazy: only with a progress bar

    return tqdm(starts, desc="predict", unit="batch")
