"""The checks an export must pass before it lands: the exported model's raw outputs and
predicted labels against the PyTorch model's on the same inputs, batched so that padding is
tested."""

from __future__ import annotations

import numpy as np

from sft.tasks import get_task

# Texts of varied length (one longer than most max_length settings) for the parity check,
# used when `parity_texts` is empty.
DEFAULT_TEXTS = [
    "Great medicine, it worked within a day.",
    "Terrible side effects, I stopped after a week.",
    "ok",
    "It was fine I guess; nothing special, nothing bad, my doctor said to keep taking it.",
    " ".join(["The first month was hard but then it got much better."] * 60),
]


def parity(reference, exported, texts: list[str]) -> float:
    """Max abs difference of the raw outputs, texts batched together (so padding is tested)."""
    expected = reference.logits(texts, batch_size=len(texts))
    got = exported.logits(texts, batch_size=len(texts))
    return max_abs_diff(expected, got)


def max_abs_diff(expected: np.ndarray, got: np.ndarray) -> float:
    """Max abs difference of two (n, outputs) arrays; NaN when their shapes differ."""
    if expected.shape != got.shape:
        return float("nan")
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64))))


def agreement(reference, exported, inputs: list[str], batch_size: int = 32) -> dict:
    """How closely `exported` follows `reference` (both Predictors) on `inputs` (texts, or
    file paths for image and audio models).

    Returns {"n": inputs, "agreement": share of inputs whose predicted label (multilabel: label
    set) is the same, in [0, 1], or None for regression, "max_abs_diff": max abs difference of
    the raw outputs (logits; regression: the scaled output)}."""
    expected = reference.logits(inputs, batch_size=batch_size)
    got = exported.logits(inputs, batch_size=batch_size)
    diff = max_abs_diff(expected, got)
    task = get_task(reference.spec["task"])
    if task.decision_key is None or expected.shape != got.shape:  # None: values, no decision
        share = None if task.decision_key is None else 0.0
    else:  # the served decisions, as each predicts them (its own spec, rules, ensemble)
        same = [
            task.decision(a) == task.decision(b)
            for a, b in zip(
                reference.predict(inputs, batch_size), exported.predict(inputs, batch_size)
            )
        ]
        share = float(np.mean(same)) if same else 1.0
    return {"n": len(inputs), "agreement": share, "max_abs_diff": diff}
