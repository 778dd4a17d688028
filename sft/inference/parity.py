"""The parity check an export must pass before it lands: the exported model's raw outputs
against the PyTorch model's on the same texts, batched together so that padding is tested."""

from __future__ import annotations

import numpy as np

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
    if expected.shape != got.shape:
        return float("nan")
    return float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64))))
