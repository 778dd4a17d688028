"""Image and audio explanations (sft.inference.explain_media) as pictures and tables: one PNG
per input (an image with its heat map overlaid; a clip's waveform above its scores over
time), `explanations.csv` (one row per input: path, target, probability, delta, its PNG)
and, for audio, `time_scores.csv` (one row per time bin).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CSV_FILE = "explanations.csv"
TIME_CSV = "time_scores.csv"
SUMMARY = ["path", "target", "predicted", "probability", "logit", "baseline_logit", "delta"]


def write(
    explanations: list[dict],
    folder: Path,
    title: str,
    ids: list | None = None,
    headings: list[str] | None = None,
) -> list[Path]:
    """Write a PNG per explanation (`<n>_<file stem>.png`), the summary CSV and (audio) the
    time-bin CSV into `folder`; return their paths, the summary CSV first."""
    import matplotlib  # lazy: matplotlib only to draw

    matplotlib.use("Agg")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, bins, pictures = [], [], []
    for n, found in enumerate(explanations):
        key = ids[n] if ids else n
        heading = headings[n] if headings else f"#{key}"
        picture = folder / f"{key}_{Path(found['path']).stem}.png"
        if "heat" in found:
            draw_image(found, picture, f"{heading}\n{_summary(found)}")
        else:
            draw_audio(found, picture, f"{heading}\n{_summary(found)}")
            bins.extend(_bins(found, key))
        pictures.append(picture)
        rows.append({"example": key, **{k: found[k] for k in SUMMARY}, "png": picture.name})
    paths = [folder / CSV_FILE]
    pd.DataFrame(rows, columns=["example", *SUMMARY, "png"]).to_csv(paths[0], index=False)
    if bins:
        paths.append(folder / TIME_CSV)
        pd.DataFrame(bins).to_csv(paths[-1], index=False)
    return paths + pictures


def heat_limit(heat: np.ndarray) -> float:
    """The |score| that gets the full colour: the 99th percentile of |heat| (a few extreme
    pixels would otherwise wash the rest out), or 1 for an all-zero map."""
    limit = float(np.percentile(np.abs(heat), 99))
    return limit if limit > 0 else 1.0


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """float RGB [h, w, 3] in 0..1: the image with the heat map laid over it in a diverging
    colormap (red: towards the target, blue: away), each pixel's opacity its |score| over
    `heat_limit` times `alpha`."""
    from matplotlib import colormaps  # lazy: matplotlib only to draw

    limit = heat_limit(heat)
    colours = colormaps["RdBu_r"](np.clip(heat / limit, -1, 1) * 0.5 + 0.5)[..., :3]
    weight = (np.clip(np.abs(heat) / limit, 0, 1) * alpha)[..., None]
    return (1 - weight) * (image.astype(float) / 255) + weight * colours


def draw_image(found: dict, path: Path, title: str) -> None:
    """Two panels: the image as the model saw it, and with its heat map overlaid (nearest
    neighbour upscaling: a pixel of the model's input stays a square)."""
    # lazy: matplotlib only to draw (after write's use("Agg"): no display needed)
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 4.4))
    left.imshow(found["image"], interpolation="nearest")
    right.imshow(overlay(found["image"], found["heat"]), interpolation="nearest")
    for axis, name in ((left, "input (model resolution)"), (right, "integrated gradients")):
        axis.set_title(name, fontsize=9)
        axis.axis("off")
    limit = heat_limit(found["heat"])
    scale = ScalarMappable(Normalize(-limit, limit), "RdBu_r")
    figure.colorbar(scale, ax=right, fraction=0.046, label="score (sum over channels)")
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def draw_audio(found: dict, path: Path, title: str) -> None:
    """The waveform (top) and the scores per time bin (bottom, red towards the target, blue
    away), on one time axis; a line marks the clip's end when the model read padding."""
    import matplotlib.pyplot as plt  # lazy: as draw_image

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
    clip = found["clip"]
    top.plot(np.arange(len(clip)) / found["sampling_rate"], clip, lw=0.5, color="0.3")
    top.set_ylabel("waveform")
    scores, width = np.asarray(found["scores"]), found["bin_seconds"]
    colours = np.where(scores >= 0, "tab:red", "tab:blue")
    bottom.bar(found["times"], scores, width=width, align="edge", color=colours)
    bottom.axhline(0, color="0.5", lw=0.5)
    bottom.set_ylabel(f"score per {width * 1000:.0f} ms")
    bottom.set_xlabel("time (s)")
    end = found["times"][-1] + width if len(scores) else 0.0
    if end > found["duration"] + 1e-9:
        for axis in (top, bottom):
            axis.axvline(found["duration"], color="0.5", ls="--", lw=0.8)
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def _bins(found: dict, key) -> list[dict]:
    width = found["bin_seconds"]
    return [
        {"example": key, "path": found["path"], "start": float(t), "end": float(t + width),
         "score": float(s), "target": found["target"], "delta": found["delta"]}
        for t, s in zip(found["times"], found["scores"])
    ]  # fmt: skip


def _summary(found: dict) -> str:
    parts = [] if found["target"] is None else [f"explains '{found['target']}'"]
    if found["probability"] is not None:
        parts.append(f"p={found['probability']:.3f}")
    parts.append(f"predicted '{found['predicted']}'")
    parts.append(f"logit {found['logit']:+.3f} (baseline {found['baseline']} ")
    parts[-1] += f"{found['baseline_logit']:+.3f}), delta {found['delta']:+.1e}"
    return ", ".join(parts)
