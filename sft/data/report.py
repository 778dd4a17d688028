"""Know the data before training: per split, label counts, text lengths and the share cut by
`model.max_length`, empty or near-empty texts, exact duplicates within the split, and exact
duplicates across splits (leakage: a test example also trained on inflates test metrics).

Pure functions on the splits' `Examples` (sft.data.labels); sft.training.run_outputs writes
the report (data_report.json, data_report.md) and the run logs the leakage warnings.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

NEAR_EMPTY_CHARS = 3  # after stripping whitespace: "", "ok", "?!" say nothing to learn from
QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.95, 1.0)
SHOWN = 5  # rows named per finding; the counts are complete


def quantiles(lengths) -> dict[str, float]:
    """`p0` (min), `p25`, `p50`, `p75`, `p95`, `p100` (max) of `lengths`; {} when empty."""
    values = np.asarray(lengths, dtype=float)
    if values.size == 0:
        return {}
    return {f"p{round(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES}


def duplicate_groups(texts: list[str]) -> list[list[int]]:
    """Positions of texts that occur more than once (exact match), one list per text."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        where[text].append(i)
    return [group for group in where.values() if len(group) > 1]


def split_report(
    examples, task, separator: str = ",", token_lengths=None, max_length: int | None = None
) -> dict:
    """One split: size, label counts (asked of `task`, a sft.tasks Task), character (and
    token) length quantiles, the share of texts cut by `max_length` (`token_lengths`: counts
    before truncation; cut: more than `max_length`), empty and near-empty texts (<=
    NEAR_EMPTY_CHARS characters after stripping) and exact duplicates. Rows are the source
    file's row numbers (`Examples.rows`)."""
    texts = list(examples.texts)
    rows = [int(r) for r in examples.rows]
    stripped = [len(t.strip()) for t in texts]
    groups = duplicate_groups(texts)
    report = {
        "examples": len(texts),
        "labels": task.label_counts(examples.labels, separator),
        "chars": quantiles([len(t) for t in texts]),
        "empty": sum(n == 0 for n in stripped),
        "near_empty": sum(0 < n <= NEAR_EMPTY_CHARS for n in stripped),
        "near_empty_rows": [rows[i] for i, n in enumerate(stripped) if n <= NEAR_EMPTY_CHARS][
            :SHOWN
        ],
        # Each copy after the first: what deduplicating would remove.
        "duplicates": sum(len(g) - 1 for g in groups),
        "duplicate_rows": [[rows[i] for i in g] for g in groups[:SHOWN]],
    }
    if token_lengths is not None:
        lengths = np.asarray(token_lengths)
        report["tokens"] = quantiles(lengths)
        if max_length:  # strictly above: a text of exactly max_length tokens fits whole
            report["truncated_share"] = (
                float((lengths > max_length).mean()) if len(lengths) else 0.0
            )
    return report


def cross_split_duplicates(splits: dict) -> list[dict]:
    """Per pair of splits sharing texts: the pair, how many distinct texts both hold, and the
    rows of the first few in each split."""
    found = []
    for a, b in combinations(splits, 2):
        first = {t: int(r) for t, r in zip(splits[a].texts, splits[a].rows)}
        second = {t: int(r) for t, r in zip(splits[b].texts, splits[b].rows)}
        shared = [t for t in first if t in second]
        if shared:
            found.append(
                {
                    "splits": [a, b],
                    "shared": len(shared),
                    "rows": [[first[t], second[t]] for t in shared[:SHOWN]],
                }
            )
    return found


def data_report(
    splits: dict,
    task,
    separator: str = ",",
    token_lengths: dict | None = None,
    max_length: int | None = None,
) -> dict:
    """The whole report: `splits` maps a split name to its `Examples`; `token_lengths` the
    split name to token counts per example (None: characters only)."""
    token_lengths = token_lengths or {}
    return {
        "task": task.name,
        "max_length": max_length,
        "splits": {
            name: split_report(ex, task, separator, token_lengths.get(name), max_length)
            for name, ex in splits.items()
        },
        "shared_between_splits": cross_split_duplicates(splits),
    }


def leakage_warnings(report: dict) -> list[str]:
    """One line per pair of splits that share examples, naming them and the rows."""
    lines = []
    for item in report["shared_between_splits"]:
        a, b = item["splits"]
        rows = ", ".join(f"{a} row {r} = {b} row {s}" for r, s in item["rows"])
        more = ", ..." if item["shared"] > len(item["rows"]) else ""
        lines.append(
            f"data: {item['shared']} example(s) of the {a} split also in the {b} split "
            f"(exact text: {rows}{more}); metrics on {b} overstate unseen data"
        )
    return lines
