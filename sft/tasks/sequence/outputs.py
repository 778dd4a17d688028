"""Served records of the sequence tasks: raw head outputs (n, num_outputs) -> one record per
input (what `sft-predict`, `sft.load(...).predict` and the served MLflow model return)."""

from __future__ import annotations

import numpy as np

from sft.tasks.sequence.decisions import label_thresholds, multiclass_choice, probabilities, scaled


def _field(spec: dict, key: str, default: float) -> float:
    """A numeric spec field; absent or null (a task that does not use it) means `default`."""
    value = spec.get(key)
    return default if value is None else float(value)


def multiclass_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """Every label's probability (softmax of the logits over the spec's temperature) and the
    label of the largest logit plus its tuned bias (sft.tasks.sequence.decisions; no bias:
    the most probable)."""
    labels = spec["labels"]
    z = scaled(raw, spec)
    probs, chosen = probabilities(z, "multiclass"), multiclass_choice(z, spec)
    return [
        {"label": labels[int(c)], "probabilities": {name: float(p) for name, p in zip(labels, row)}}
        for c, row in zip(chosen, probs)
    ]


def binary_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """labels[1] (the positive class) when its probability (temperature-scaled) exceeds the
    threshold (tuned, else 0.5)."""
    negative, positive = spec["labels"]
    threshold = label_thresholds(spec, 1)[0]
    probs = probabilities(scaled(raw, spec), "binary")[:, 1]
    return [
        {
            "label": positive if p > threshold else negative,
            "probabilities": {negative: float(1.0 - p), positive: float(p)},
        }
        for p in probs
    ]


def regression_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """The predicted value, mapped back to the target's scale when it was standardized."""
    mean = _field(spec, "target_mean", 0.0)
    std = _field(spec, "target_std", 1.0)
    return [{"score": float(v) * std + mean} for v in raw[:, 0].astype(np.float64)]


def multilabel_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """Every label whose probability (temperature-scaled) reaches its threshold (tuned per
    label, else the one threshold), and every label's probability."""
    labels = spec["labels"]
    thresholds = label_thresholds(spec, len(labels))
    probs = probabilities(scaled(raw, spec), "multilabel")
    return [
        {
            "labels": [name for name, p, t in zip(labels, row, thresholds) if p >= t],
            "probabilities": {name: float(p) for name, p in zip(labels, row)},
        }
        for row in probs
    ]
