"""Label maps as run-length encodings (RLE) for JSON records: what `sft-predict`, `sft.load`
and the served model return for a predicted mask.

The format is COCO's uncompressed RLE (pixels in column-major order, as pycocotools reads
them: down the first column, then the next) extended from a binary mask to a label map:

    {"size": [height, width], "counts": [n1, n2, ...], "values": [v1, v2, ...]}

`counts[i]` pixels in a row (column-major) hold class id `values[i]`; the counts add up to
height x width; two neighbouring runs never hold the same value. A class's COCO binary RLE
is `binary_rle(rle, class_id)` (counts alternate 0-runs and 1-runs, the first a 0-run).
"""

from __future__ import annotations

import numpy as np

from sft.errors import SFTDataError


def encode_rle(label_map) -> dict:
    """The RLE of a label map [height, width] of integer class ids."""
    labels = np.asarray(label_map)
    if labels.ndim != 2:
        raise SFTDataError(f"a label map is 2-D (height, width), got shape {labels.shape}")
    flat = labels.ravel(order="F")
    if flat.size == 0:
        return {"size": list(labels.shape), "counts": [], "values": []}
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    counts = np.diff(np.r_[starts, flat.size])
    return {
        "size": [int(s) for s in labels.shape],
        "counts": counts.tolist(),
        "values": flat[starts].tolist(),
    }


def decode_rle(rle: dict) -> np.ndarray:
    """The label map [height, width] int64 of an RLE made by `encode_rle`. SFTDataError
    when its counts do not fill the size or counts and values differ in length."""
    height, width = (int(s) for s in rle["size"])
    counts, values = rle["counts"], rle["values"]
    if len(counts) != len(values) or sum(counts) != height * width:
        raise SFTDataError(
            f"an RLE of size {height}x{width} needs counts adding up to {height * width} "
            f"and one value per count (got {sum(counts)} pixels, {len(counts)} counts, "
            f"{len(values)} values)"
        )
    flat = np.repeat(np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64))
    return flat.reshape((height, width), order="F")


def binary_rle(rle: dict, class_id: int) -> dict:
    """COCO's uncompressed RLE {"size", "counts"} of where the label map holds `class_id`."""
    counts: list[int] = []
    inside = False
    for count, value in zip(rle["counts"], rle["values"]):
        hit = value == class_id
        if hit == inside and counts:
            counts[-1] += count
        else:
            if not counts and hit:
                counts.append(0)  # COCO's counts start with a run of zeros
            counts.append(count)
            inside = hit
    return {"size": list(rle["size"]), "counts": counts}
