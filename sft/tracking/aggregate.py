"""The parent run of a cross-validation or seed-repeat run (sft.training.cv): the mean and
std of its children's metrics, the out-of-fold (OOF) predictions table and the OOF metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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
        frame = pd.DataFrame({"row": outcome["val_rows"], "fold": name,
                              "text": outcome["val_texts"]})
        task, labels = outcome["task"], outcome["label_names"]
        targets = np.asarray(outcome["val_targets"])
        if task == "regression":
            frame["target"], frame["value"] = targets.astype(np.float64), outputs[:, 0]
        elif task == "binary":
            frame["target"] = [labels[int(t)] for t in targets]
            frame[f"p/{labels[0]}"], frame[f"p/{labels[1]}"] = 1 - outputs[:, 0], outputs[:, 0]
            frame["prediction"] = np.where(outputs[:, 0] > 0.5, labels[1], labels[0])
        elif task == "multiclass":
            frame["target"] = [labels[int(t)] for t in targets]
            for i, label in enumerate(labels):
                frame[f"p/{label}"] = outputs[:, i]
            frame["prediction"] = [labels[i] for i in outputs.argmax(axis=1)]
        else:  # multilabel: targets are multi-hot rows
            frame["target"] = [
                ",".join(name for name, t in zip(labels, row) if t) for row in targets
            ]
            for i, label in enumerate(labels):
                frame[f"p/{label}"] = outputs[:, i]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values("row", kind="stable",
                                                            ignore_index=True)


def oof_metrics(outcomes: list[dict]) -> dict[str, float]:
    """Metrics of the pooled out-of-fold predictions (every train example once):
    `oof/acc` and `oof/f1_macro` (single-label), `oof/f1_macro` (multilabel at 0.5),
    `oof/mse` and `oof/mae` (regression). scikit-learn's definitions."""
    from sklearn.metrics import accuracy_score, f1_score  # lazy: only when a CV run ends

    task = outcomes[0]["task"]
    outputs = np.concatenate([np.asarray(o["val_outputs"], dtype=np.float64) for o in outcomes])
    targets = np.concatenate([np.asarray(o["val_targets"]) for o in outcomes])
    if task == "regression":
        error = outputs[:, 0] - targets.astype(np.float64)
        return {"oof/mse": float(np.mean(error ** 2)), "oof/mae": float(np.mean(np.abs(error)))}
    if task == "multilabel":
        return {"oof/f1_macro": float(f1_score(targets.astype(int), (outputs >= 0.5).astype(int),
                                               average="macro", zero_division=0))}
    preds = (outputs[:, 0] > 0.5).astype(int) if task == "binary" else outputs.argmax(axis=1)
    return {"oof/acc": float(accuracy_score(targets, preds)),
            "oof/f1_macro": float(f1_score(targets, preds, average="macro", zero_division=0))}


def summarize_children(tracker, outcomes: list[dict], names: list[str], out_dir: Path,
                       with_oof: bool, monitor: str) -> dict[str, float]:
    """Log on the parent `tracker`: mean and std of the children's val/test metrics and of
    their best monitored values (`best/...`), and with `with_oof` (folds) the OOF table
    (`oof_predictions.csv`) and OOF metrics; return everything logged."""
    metrics = mean_std([{**o["val"], **o["test"]} for o in outcomes])
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
