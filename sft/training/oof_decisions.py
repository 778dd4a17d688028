"""A fold ensemble's calibration and decision rules, from the folds' out-of-fold (OOF)
predictions (`cv.folds=K cv.ensemble=true`).

- Calibration: each member (fold model) is temperature-scaled by the temperature fitted on its
  own held-out fold in its child run (sft.training.calibrate.post_hoc, `decisions.calibrate`),
  i.e. on its OOF predictions; the ensemble averages the calibrated probabilities.
- Tuned decisions (`decisions.tune=true`): class biases (multiclass) or thresholds (binary,
  multilabel) of the task (sft.tasks.sequence.decisions), fitted on the pooled calibrated
  OOF probabilities (every
  train example once: K times the examples of one validation split) and saved in the
  ensemble's spec, so every predict path applies them to the averaged probabilities.

The honest OOF estimate of what tuning adds is cross-fitted (`oof/<metric>_tuned`): fold k's
examples are decided by rules fitted on the other folds' OOF predictions only, as
cross_val_predict does in scikit-learn. Compare it with `oof/<metric>` to choose
`decisions.tune` on OOF, never on test. Fitted on OOF predictions of single fold models, the
rules are applied to the ensemble's averaged probabilities: the usual approximation (the
ensemble has no held-out predictions of its own).
"""

from __future__ import annotations

import numpy as np

from sft.tasks import as_task
from sft.tasks.sequence.decisions import tuned_metric


def member_probabilities(logits: np.ndarray, outcome: dict, task) -> np.ndarray:
    """Probabilities (n, k) of a member's raw `logits` (n, k) (binary: (n, 1) -> (n, 2)),
    scaled by the temperature its child run saved (none: 1)."""
    temperature = (outcome.get("decision_spec") or {}).get("temperature") or 1.0
    return as_task(task).probabilities(logits, float(temperature))


def cross_fitted(
    probs: np.ndarray, targets: np.ndarray, folds: np.ndarray, task, metric: str
) -> np.ndarray:
    """Decisions (n,) or (n, k) where the examples of each fold are decided by rules fitted on
    the other folds' examples only (the task's `tune` and `decide`)."""
    task = as_task(task)
    decided = np.zeros(targets.shape, dtype=int)
    for fold in np.unique(folds):
        held = folds == fold
        spec = task.tune(probs[~held], targets[~held], metric)
        decided[held] = task.decide(probs[held], spec)
    return decided


def oof_decisions(outcomes: list[dict], task, tune: bool, monitor: str) -> tuple[dict, dict]:
    """From the children's outcomes (sft.training.fold_outcome: `val_logits`, `val_targets`,
    `decision_spec`): the OOF metrics to log (`oof/ece`, `oof/ece_calibrated`, and the
    cross-fitted `oof/<metric>_tuned`, also without `tune`: it is what `tune` is chosen by)
    and the spec fields for the ensemble (the rules fitted on all OOF predictions; {} without
    `tune`)."""
    task = as_task(task)
    raw = [task.probabilities(o["val_logits"]) for o in outcomes]
    calibrated = [member_probabilities(o["val_logits"], o, task) for o in outcomes]
    # binary targets arrive as floats (BCE); decisions count ids
    targets = task.decision_targets(
        np.concatenate([np.asarray(o["val_targets"]) for o in outcomes])
    )
    probs = np.concatenate(calibrated)
    metrics = {
        "oof/ece": task.ece(np.concatenate(raw), targets),
        "oof/ece_calibrated": task.ece(probs, targets),
    }
    metric = tuned_metric(monitor)  # cross-fitted even when off: the figure to choose `tune` by
    folds = np.concatenate([np.full(len(p), i) for i, p in enumerate(calibrated)])
    tuned = task.decision_metrics(
        cross_fitted(probs, targets, folds, task, metric), targets, max(probs.shape[1], 2)
    )
    metrics.update({f"oof/{name}_tuned": v for name, v in tuned.items()})
    return metrics, task.tune(probs, targets, metric) if tune else {}


def ensemble_test_metrics(
    mean_probs: np.ndarray, outcomes: list[dict], targets: np.ndarray, task, spec: dict
) -> dict:
    """`ensemble/test/...` of the saved ensemble's averaged probabilities `mean_probs` (n, k):
    its decisions with and without the tuned rules of `spec` (`<metric>`, `<metric>_tuned`)
    and its ECE; and, from the members' test logits, the same average without calibration
    (`<metric>_uncalibrated`, `ece_uncalibrated`), which is what calibration changed."""
    task = as_task(task)
    targets = task.decision_targets(targets)
    k = max(mean_probs.shape[1], 2)
    uncalibrated = np.mean([task.probabilities(o["test_logits"]) for o in outcomes], axis=0)
    metrics = {}
    for suffix, probs, rules in [("", mean_probs, {}), ("_uncalibrated", uncalibrated, {})] + (
        [("_tuned", mean_probs, spec)] if spec else []
    ):
        decided = task.decision_metrics(task.decide(probs, rules), targets, k)
        metrics.update({f"ensemble/test/{name}{suffix}": v for name, v in decided.items()})
    metrics["ensemble/test/ece"] = task.ece(mean_probs, targets)
    metrics["ensemble/test/ece_uncalibrated"] = task.ece(uncalibrated, targets)
    return metrics
