"""Is an explanation faithful? Comprehensiveness (DeYoung et al. 2020, "ERASER: A Benchmark to
Evaluate Rationalized NLP Models"): delete the words an explanation ranks highest and see the
explained label's probability fall; it should fall more than when as many random words are
deleted. Used by the trust tests and benchmarks/explain.py.
"""

from __future__ import annotations

import math

import numpy as np


def without_words(text: str, words: list[dict], drop: set[int]) -> str:
    """`text` with the words at the indices `drop` (of `words`, as sft.inference.explain
    gives them: character spans) deleted, the rest of the characters kept."""
    pieces, at = [], 0
    for i, word in enumerate(words):
        if i in drop:
            pieces.append(text[at : word["start"]])
            at = word["end"]
    pieces.append(text[at:])
    return "".join(pieces)


def words_to_drop(count: int, k: int | float) -> int:
    """How many of `count` words: `k` itself (an int), or the fraction `k` of them rounded
    up (a float in (0, 1])."""
    return min(count, k if isinstance(k, int) else math.ceil(k * count))


def comprehensiveness(
    predictor, explanations: list[dict], k: int | float = 1, draws: int = 5, seed: int = 0
) -> dict:
    """Mean drop of the explained label's probability when the top-`k` scored words are
    deleted (`top`) and when `k` random words are (`random`, averaged over `draws` random
    sets per text), over the explanations of labelled predictions (a regression model's
    have no probability: skipped) that keep at least one word; `top` > `random` is what a
    faithful explanation shows. Also `per_text` drops (top, random) and `texts` counted."""
    rng = np.random.default_rng(seed)
    variants, plans = [], []
    for found in explanations:
        count = len(found["words"])
        k_here = words_to_drop(count, k)
        if found["probability"] is None or k_here >= count or k_here == 0:
            continue
        top = set(np.argsort([-w["score"] for w in found["words"]], kind="stable")[:k_here])
        start = len(variants)
        variants.append(without_words(found["text"], found["words"], {int(i) for i in top}))
        for _ in range(draws):
            chosen = {int(i) for i in rng.choice(count, size=k_here, replace=False)}
            variants.append(without_words(found["text"], found["words"], chosen))
        plans.append((found, start))
    if not plans:
        return {"top": float("nan"), "random": float("nan"), "per_text": [], "texts": 0}
    records = predictor.predict(variants)
    per_text = []
    for found, start in plans:
        before = found["probability"]
        after = [records[start + j]["probabilities"][found["target"]] for j in range(draws + 1)]
        per_text.append((before - after[0], before - float(np.mean(after[1:]))))
    drops = np.asarray(per_text)
    return {
        "top": float(drops[:, 0].mean()),
        "random": float(drops[:, 1].mean()),
        "per_text": per_text,
        "texts": len(per_text),
    }
