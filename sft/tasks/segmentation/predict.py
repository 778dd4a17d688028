"""Prediction for semantic segmentation: image paths -> the model's image processor -> logits
-> a label map at each image's own size -> {"mask": RLE, "shares": per-class pixel shares}."""

from __future__ import annotations

import base64
import io
from collections import Counter
from pathlib import Path

import numpy as np

from sft.data.media import load_image
from sft.errors import SFTDataError
from sft.tasks.segmentation.rle import decode_rle, encode_rle


def read_input(value: str, index: int) -> np.ndarray:
    """The RGB pixels uint8 [h, w, 3] of one input: an image file's path, or an image's bytes
    in base64 (plain, or a `data:image/...;base64,` URI: what an HTTP client of the served
    model can send without sharing a disk). SFTDataError naming the input otherwise."""
    from PIL import Image, UnidentifiedImageError  # lazy: as load_image

    if not isinstance(value, str):
        raise SFTDataError(f"input {index}: expected an image path, got {type(value).__name__}")
    uri = value.startswith("data:") and "," in value
    data = None
    if uri or (len(value) >= 64 and not _is_file(value)):  # a short string is a path
        try:
            data = base64.b64decode(value.split(",", 1)[1] if uri else value, validate=True)
        except ValueError:
            if uri:
                raise SFTDataError(f"input {index}: a data URI whose data is not base64") from None
    if data is None:  # not base64: a path (named as one if missing)
        return np.asarray(load_image(value))
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError):
        raise SFTDataError(f"input {index}: base64 data that is not a readable image") from None


def _is_file(value: str) -> bool:
    try:
        return Path(value).expanduser().is_file()
    except OSError:  # a name too long for the file system (base64 text): no file
        return False


def batches(predictor, paths, batch_size: int = 8):
    """Per batch of the images at `paths` (or base64 images: read_input), in order: their
    sizes (height, width) and the model's logits [b, k, h, w] float32 at its output
    resolution (SegFormer: 1/4 of the processor's size). `predictor`: a segmentation
    model's sft.inference.predictor.Predictor (its `runner.net`, the transformers model,
    and `tokenizer`, the image processor). Raises SFTDataError for an input that is not a
    list of images, or an unreadable image."""
    # lazy: torch with the network
    import torch

    from sft.tasks.segmentation.transforms import processor_inputs

    if isinstance(paths, str):
        raise SFTDataError("expected a list of image paths, got a single string")
    paths = list(paths)
    net = predictor.runner.net
    device = next(net.parameters()).device
    step = max(1, int(batch_size))
    for start in range(0, len(paths), step):
        images = [read_input(p, start + i) for i, p in enumerate(paths[start : start + step])]
        pixels = processor_inputs(predictor.tokenizer, images)["pixel_values"].to(device)
        with torch.inference_mode():
            logits = net(pixel_values=pixels).logits.float()
        yield [image.shape[:2] for image in images], logits


def label_maps(predictor, paths, batch_size: int = 8) -> list[np.ndarray]:
    """The predicted label map [height, width] int64 of each image at `paths`, in order, at
    the image's size (logits upsampled bilinearly, then argmax: metrics.upsample_argmax)."""
    from sft.tasks.segmentation.metrics import upsample_argmax  # lazy: torch

    maps: list[np.ndarray] = []
    for sizes, logits in batches(predictor, paths, batch_size):
        maps += [m.cpu().numpy().astype(np.int64) for m in upsample_argmax(logits, sizes)]
    return maps


def raw_outputs(predictor, paths, batch_size: int = 8) -> np.ndarray:
    """Every output pixel's class logits [total pixels, k] float32, images in order, at the
    model's output resolution: what sft-export compares between a model and its copy."""
    rows = [
        logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]).cpu().numpy()
        for _, logits in batches(predictor, paths, batch_size)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, len(predictor.labels)), np.float32)


def shares(label_map: np.ndarray, names: list[str]) -> dict[str, float]:
    """Each class's share of the pixels (0..1; every class, in id order)."""
    counts = np.bincount(label_map.ravel(), minlength=len(names))[: len(names)]
    return {name: float(c) / max(label_map.size, 1) for name, c in zip(names, counts)}


def predict_masks(predictor, paths, batch_size: int = 8, progress: bool = False) -> list[dict]:
    """One record per image, in order: {"mask": {"size": [h, w], "counts": [...],
    "values": [...]} (rle.encode_rle: the label map at the image's size, class ids of the
    model's labels), "shares": {class: share of the pixels}}. `progress` is unused."""
    names = [str(n) for n in predictor.spec["labels"]]
    return [
        {"mask": encode_rle(m), "shares": shares(m, names)}
        for m in label_maps(predictor, paths, batch_size)
    ]


def write_masks(records: list[dict], paths, folder, seen: Counter | None = None) -> list[Path]:
    """Each record's mask (rle.decode_rle) as a PNG of class ids (uint8, mode L) in
    `folder`, named after its image: `<stem>.png`, or `<stem>-<n>.png` for the n-th image
    whose stem was seen before (`seen`: the stems of earlier calls, counted on, as
    sft-predict writes a chunk of inputs at a time). Returns the files written, in order."""
    from PIL import Image  # lazy: as load_image

    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    written, seen = [], Counter() if seen is None else seen
    for record, path in zip(records, paths):
        stem = Path(str(path)).stem
        seen[stem] += 1
        target = out / (f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png")
        Image.fromarray(decode_rle(record["mask"]).astype(np.uint8)).save(target)
        written.append(target)
    return written
