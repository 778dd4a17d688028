"""What an explanation of a sequence task explains (sft.inference.explain) and which test
examples are worth explaining first (`explain.samples`, sft.training.explain_samples).

Shapes: `raw` the head's outputs, (num_outputs,) for one input or (n, num_outputs);
`targets` as the data module encodes them (sft.tasks.sequence.task's module doc).
"""

from __future__ import annotations

import numpy as np

from sft.errors import SFTConfigError


def target_of(task, raw: np.ndarray, spec: dict, target: str | None) -> dict:
    """The explained logit of one input (`weights`: the raw outputs' weights, sft.tasks.
    sequence.task.SequenceTask.explained_weights), the `target` label (default:
    the predicted one; multilabel: the most probable), `predicted` and the target's
    `probability`. SFTConfigError for a target that is not one of the model's labels."""
    record = task.records(raw[None, :], spec)[0]
    probs = record["probabilities"]
    predicted = record.get("label") or max(probs, key=probs.get)
    name = predicted if target is None else str(target)
    if name not in probs:
        raise SFTConfigError(
            f"target: '{name}' is not a label of this model (labels: {', '.join(probs)})"
        )
    return {
        "weights": task.explained_weights(list(probs), name),
        "target": name,
        "predicted": predicted,
        "probability": float(probs[name]),
    }


def mistakes_first(task, raw: np.ndarray, targets: np.ndarray, spec: dict) -> np.ndarray:
    """Row indices: the wrong decisions (any label wrong, for multilabel) from the most
    confident down, then the right ones likewise; confidence = the largest probability of
    the row (temperature-scaled, as served)."""
    decided = np.asarray(task.decide_logits(raw, spec)).reshape(len(raw), -1)
    truth = np.asarray(task.decision_targets(targets)).reshape(len(raw), -1)
    wrong = (decided != truth).any(axis=1)
    records = task.records(raw, spec)
    confidence = np.array([max(r["probabilities"].values()) for r in records])
    return np.lexsort((-confidence, ~wrong))


def largest_errors_first(task, raw: np.ndarray, targets: np.ndarray, spec: dict) -> np.ndarray:
    """Row indices by absolute error of the served value (on the targets' scale), largest
    first."""
    values = np.array([r["score"] for r in task.records(raw, spec)])
    return np.argsort(-np.abs(values - np.asarray(targets, dtype=np.float64)), kind="stable")
