"""Served records of the sequence tasks: raw head outputs (n, num_outputs) -> one record per
input (what `sft-predict`, `sft.load(...).predict` and the served MLflow model return)."""

from __future__ import annotations

import numpy as np

from sft.tasks.sequence.decisions import label_thresholds, multiclass_choice, probabilities, scaled


def _field(spec: dict, key: str, default: float) -> float:
    """A numeric spec field; absent or null (a task that does not use it) means `default`."""
    value = spec.get(key)
    return default if value is None else float(value)


def decision_rule(spec: dict, task: str) -> str | None:
    """The rule that chose the labels of `spec`'s model when it is not "the most probable
    label" (multiclass: tuned class biases; binary: a threshold other than 0.5; multilabel:
    tuned thresholds), with the numbers that reproduce it; None when it is. Every record of
    such a model carries it as `decided_by`: its label can differ from the argmax of its
    probabilities (tuned biases returned 'positive' beside p(negative) 0.49 > p(positive) 0.30)."""
    labels = spec["labels"]
    if task == "multiclass":
        bias = spec.get("class_bias")
        if bias is None or not np.any(np.asarray(bias, dtype=np.float64)):
            return None
        terms = ", ".join(f"{name} {float(b):+.2f}" for name, b in zip(labels, bias))
        return f"tuned class bias (decisions.tune): the largest log p + bias, bias {terms}"
    if task == "binary":
        threshold = float(label_thresholds(spec, 1)[0])
        if threshold == 0.5:
            return None
        kind = "tuned threshold (decisions.tune)" if spec.get("thresholds") else "threshold"
        return f"{kind}: {labels[1]} when p({labels[1]}) > {threshold:.2f}"
    if spec.get("thresholds") is None:
        return None
    terms = ", ".join(
        f"{name} {t:.2f}" for name, t in zip(labels, label_thresholds(spec, len(labels)))
    )
    return f"tuned thresholds (decisions.tune): a label when p >= {terms}"


def with_rule(records: list[dict], spec: dict, task: str) -> list[dict]:
    """`records`, each with `decided_by` (decision_rule) when a rule other than the most
    probable label decided them."""
    rule = decision_rule(spec, task)
    return records if rule is None else [{**r, "decided_by": rule} for r in records]


def multiclass_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """Every label's probability (softmax of the logits over the spec's temperature) and the
    label of the largest logit plus its tuned bias (sft.tasks.sequence.decisions; no bias:
    the most probable; with one, `decided_by` says so)."""
    labels = spec["labels"]
    z = scaled(raw, spec)
    probs, chosen = probabilities(z, "multiclass"), multiclass_choice(z, spec)
    records = [
        {"label": labels[int(c)], "probabilities": {name: float(p) for name, p in zip(labels, row)}}
        for c, row in zip(chosen, probs)
    ]
    return with_rule(records, spec, "multiclass")


def binary_records(raw: np.ndarray, spec: dict) -> list[dict]:
    """labels[1] (the positive class) when its probability (temperature-scaled) exceeds the
    threshold (tuned, else 0.5; other than 0.5, `decided_by` says so)."""
    negative, positive = spec["labels"]
    threshold = label_thresholds(spec, 1)[0]
    probs = probabilities(scaled(raw, spec), "binary")[:, 1]
    records = [
        {
            "label": positive if p > threshold else negative,
            "probabilities": {negative: float(1.0 - p), positive: float(p)},
        }
        for p in probs
    ]
    return with_rule(records, spec, "binary")


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
    records = [
        {
            "labels": [name for name, p, t in zip(labels, row, thresholds) if p >= t],
            "probabilities": {name: float(p) for name, p in zip(labels, row)},
        }
        for row in probs
    ]
    return with_rule(records, spec, "multilabel")
