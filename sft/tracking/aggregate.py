"""The parent run of a cross-validation or seed-repeat run (sft.training.cv): the mean and
std of its children's metrics, the out-of-fold (OOF) predictions table and the OOF metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sft.tasks import as_task

STD_SUFFIX = "_std"  # `val/f1_macro` holds the mean over children, `val/f1_macro_std` the std


def mean_std(values: list[dict[str, float]]) -> dict[str, float]:
    """For every key that all of `values` (one dict per child) have: `key` -> the mean and
    `key_std` -> the sample standard deviation (ddof=1; 0 for one child)."""
    if not values:
        return {}
    keys = [k for k in values[0] if all(k in v for v in values[1:])]
    out = {}
    for key in keys:
        column = np.array([float(v[key]) for v in values], dtype=np.float64)
        out[key] = float(column.mean())
        out[key + STD_SUFFIX] = float(column.std(ddof=1)) if len(column) > 1 else 0.0
    return out


def oof_table(outcomes: list[dict], names: list[str]) -> pd.DataFrame:
    """One row per train example, from the folds' validation predictions (each example is
    held out by exactly one fold): source row, fold, text, target, prediction and the
    probability of each label (`p/<label>`; regression: `value`). Sorted by source row."""
    frames = []
    for name, outcome in zip(names, outcomes):
        outputs = np.asarray(outcome["val_outputs"], dtype=np.float64)
        frame = pd.DataFrame(
            {"row": outcome["val_rows"], "fold": name, "text": outcome["val_texts"]}
        )
        as_task(outcome["task"]).oof_columns(
            frame, outputs, np.asarray(outcome["val_targets"]), outcome["label_names"]
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values("row", kind="stable", ignore_index=True)


def oof_metrics(outcomes: list[dict]) -> dict[str, float]:
    """Metrics of the pooled out-of-fold predictions (every train example once), as the
    task defines them (`oof_metrics`): `oof/acc` and `oof/f1_macro` (single-label),
    `oof/f1_macro` (multilabel at 0.5), `oof/mse` and `oof/mae` (regression). Every class of
    the train split occurs in it, so the macros over present classes are scikit-learn's."""
    outputs = np.concatenate([np.asarray(o["val_outputs"], dtype=np.float64) for o in outcomes])
    targets = np.concatenate([np.asarray(o["val_targets"]) for o in outcomes])
    return as_task(outcomes[0]["task"]).oof_metrics(outputs, targets)


def summarize_children(
    tracker, outcomes: list[dict], names: list[str], out_dir: Path, with_oof: bool, monitor: str
) -> dict[str, float]:
    """Log on the parent `tracker`: mean and std of the children's val/test metrics (those of
    their calibration and tuned decisions too) and of their best monitored values
    (`best/...`), and with `with_oof` (folds) the OOF table (`oof_predictions.csv`) and OOF
    metrics; return everything logged."""
    # the post-hoc step's metrics (ECE, calibrated ECE, `*_tuned`, decisions/temperature)
    # come after the child's outcome was taken (sft.training.recording)
    metrics = mean_std([{**o["val"], **o["test"], **o.get("post_hoc", {})} for o in outcomes])
    bests = [o for o in outcomes if o.get("best") is not None]
    if len(bests) == len(outcomes):
        metrics.update(mean_std([{f"best/{monitor}": o["best"]} for o in outcomes]))
    metrics["cv/children"] = float(len(outcomes))
    if with_oof:
        metrics.update(oof_metrics(outcomes))
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "oof_predictions.csv"
        oof_table(outcomes, names).to_csv(path, index=False)
        tracker.log_artifact(path)
    tracker.log_metrics(metrics)
    return metrics
