"""Post-hoc calibration and decision rules, fitted on validation predictions and applied by
every predict path (sft.inference.predictor reads them from sft_model.json). The one home of
the sequence tasks' logits -> probabilities (`probabilities`).

- Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): the
  logits are divided by one scalar T > 0 that minimizes the negative log-likelihood of the
  validation targets. Argmax decisions do not change; probabilities do.
- Tuned decisions: multiclass, an additive bias per class on the (scaled) logits, chosen by
  coordinate ascent over a grid to maximize macro F1 (or accuracy) on validation; binary and
  multilabel, a probability threshold per label maximizing F1.

numpy only (scipy lazily, for fitting): an ONNX model is served without torch. Shapes: `logits`
(n, k) floats, k = 1 for binary; `targets` (n,) class ids (multiclass), (n,) 0/1 (binary) or
(n, k) 0/1 (multilabel).
"""

from __future__ import annotations

import numpy as np

from sft.errors import SFTDataError
from sft.tasks.sequence.bias_search import coordinate_ascent

# Temperatures searched (log-uniform bounds): beyond these the logits are either constant or
# saturated, and the bounded search needs finite limits.
T_BOUNDS = (0.05, 20.0)
BIAS_GRID = np.round(np.linspace(-2.0, 2.0, 41), 3)  # steps of 0.1 in logit units
THRESHOLD_GRID = np.round(np.linspace(0.05, 0.95, 91), 3)  # steps of 0.01


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def probabilities(logits: np.ndarray, task: str, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (n, k) float64 of `logits / temperature`: softmax (multiclass), [1 - p, p]
    (binary, logits (n, 1)), a sigmoid per label (multilabel)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if task == "multiclass":
        return _softmax(z)
    p = _sigmoid(z)
    return np.concatenate([1 - p, p], axis=-1) if task == "binary" else p


def decide_logits(logits: np.ndarray, task: str, spec: dict) -> np.ndarray:
    """Hard decisions of `logits` under `spec` (temperature, class_bias, thresholds), as
    every predict path makes them: class ids (n,) or multi-hot (n, k)."""
    z = np.asarray(logits, dtype=np.float64) / float(spec.get("temperature") or 1.0)
    if task == "multiclass":
        return multiclass_choice(z, spec)
    p = probabilities(z, task)
    if task == "binary":
        return (p[:, 1] > label_thresholds(spec, 1)[0]).astype(int)
    return (p >= label_thresholds(spec, p.shape[1])).astype(int)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)  # log(1 / (1 + e^-z)) without overflow


def nll(logits: np.ndarray, targets: np.ndarray, task: str, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats per example; multilabel: per label decision) of
    `targets` under `logits / temperature`."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if task == "multiclass":
        return float(-_log_softmax(z)[np.arange(len(z)), np.asarray(targets, int)].mean())
    y = np.asarray(targets, dtype=np.float64).reshape(len(z), -1)
    z = z.reshape(len(z), -1)
    return float(-(y * _log_sigmoid(z) + (1 - y) * _log_sigmoid(-z)).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, task: str) -> float:
    """The T in T_BOUNDS minimizing `nll(logits, targets, task, T)`: a bounded 1-D search
    (scipy.optimize.minimize_scalar, Brent's method) over log T, where the NLL is smooth.
    Raises SFTDataError when there are no examples."""
    from scipy.optimize import minimize_scalar  # lazy: fitting runs in training, not serving

    if len(logits) == 0:
        raise SFTDataError("temperature scaling: the validation split has no examples")
    lo, hi = np.log(T_BOUNDS)
    found = minimize_scalar(
        lambda s: nll(logits, targets, task, float(np.exp(s))),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def scaled(raw: np.ndarray, spec: dict) -> np.ndarray:
    """`raw / spec['temperature']` (absent or null: unchanged), as float64."""
    temperature = spec.get("temperature")
    raw = np.asarray(raw, dtype=np.float64)
    return raw if temperature is None else raw / float(temperature)


def multiclass_choice(z: np.ndarray, spec: dict) -> np.ndarray:
    """Class ids (n,) from scaled logits `z` (n, k): argmax of z + spec['class_bias']."""
    bias = spec.get("class_bias")
    return (z if bias is None else z + np.asarray(bias, dtype=np.float64)).argmax(axis=-1)


def label_thresholds(spec: dict, count: int) -> np.ndarray:
    """Per-label probability thresholds (count,): spec['thresholds'] when tuned, else the
    single `threshold` (default 0.5) for every label."""
    tuned = spec.get("thresholds")
    if tuned is not None:
        return np.asarray(tuned, dtype=np.float64)
    single = spec.get("threshold")
    return np.full(count, 0.5 if single is None else float(single))


def decide_probabilities(probs: np.ndarray, task: str, spec: dict) -> np.ndarray:
    """Hard decisions from probabilities `probs` (n, k) (an ensemble's averaged ones; binary:
    (n, 2) with the positive class second) under `spec`'s class_bias or thresholds: class ids
    (n,) (multiclass: argmax of log p + bias, the bias on the logit scale as for one model, the
    log-probabilities being logits up to a per-row constant; binary: p > threshold) or
    multi-hot (n, k) (multilabel: p >= each label's threshold)."""
    p = np.asarray(probs, dtype=np.float64)
    if task == "multiclass":
        return multiclass_choice(np.log(np.clip(p, 1e-12, 1.0)), spec)
    if task == "binary":
        return (p[:, 1] > label_thresholds(spec, 1)[0]).astype(int)
    return (p >= label_thresholds(spec, p.shape[1])).astype(int)


def tuned_metric(monitor: str) -> str:
    """The metric decisions are tuned for: accuracy when the run monitors accuracy, else
    macro F1."""
    return "acc" if str(monitor).endswith("/acc") else "f1_macro"


# -- metrics on hard decisions (sft.tasks.sequence.metrics' definitions: macros over present
# classes) -----------------------------------------------------------------------------------


def f1_per_class(pred: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """F1 of each class (k,) for single-label ids, NaN for a class absent from `targets`."""
    tp = np.bincount(targets[pred == targets], minlength=k).astype(float)
    support = np.bincount(targets, minlength=k).astype(float)
    predicted = np.bincount(pred, minlength=k).astype(float)
    f1 = 2 * tp / np.maximum(support + predicted, 1)
    return np.where(support > 0, f1, np.nan)


def label_f1(pred: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """F1 of each label (k,) for multi-hot (n, k) decisions, NaN where a label has no positive."""
    tp = (pred & targets).sum(axis=0).astype(float)
    support = targets.sum(axis=0).astype(float)
    f1 = 2 * tp / np.maximum(support + pred.sum(axis=0), 1)
    return np.where(support > 0, f1, np.nan)


def decision_metrics(pred: np.ndarray, targets: np.ndarray, task: str, k: int) -> dict:
    """acc and f1_macro (single-label; binary as two classes) or f1_macro and f1_micro
    (multilabel) of hard decisions `pred`, as sft's summary metrics define them."""
    if task == "multilabel":
        pred, targets = pred.astype(bool), targets.astype(bool)
        tp = (pred & targets).sum()
        micro = 2 * tp / max(pred.sum() + targets.sum(), 1)
        return {"f1_macro": float(np.nanmean(label_f1(pred, targets))), "f1_micro": float(micro)}
    return {
        "acc": float((pred == targets).mean()),
        "f1_macro": float(np.nanmean(f1_per_class(pred, targets, k))),
    }


# -- tuning --------------------------------------------------------------------------------


def tune_class_bias(
    z: np.ndarray, targets: np.ndarray, metric: str = "f1_macro", rounds: int = 3
) -> np.ndarray:
    """Per-class additive biases (k,) on scaled logits `z` (n, k) maximizing `metric` (acc or
    f1_macro) of argmax(z + bias) on (`z`, `targets`): coordinate ascent, each class in turn
    over BIAS_GRID, for `rounds` sweeps or until nothing improves. Ties keep the bias nearest
    zero: with few validation examples, a change must earn its place. Each class tried costs
    O(n log n), not O(n k) (sft.tasks.sequence.bias_search): a round at 1000 classes and 10k
    rows takes seconds, where rescoring every trial took ~34 min."""
    z = np.asarray(z, dtype=np.float64)
    targets = np.asarray(targets, dtype=int)
    return coordinate_ascent(z, targets, BIAS_GRID, metric, rounds)


def tune_thresholds(probs: np.ndarray, targets: np.ndarray, task: str) -> np.ndarray:
    """Probability thresholds maximizing F1 on (`probs`, `targets`): binary, one (1,) for the
    positive class maximizing the macro F1 of both classes (p > t is positive); multilabel,
    one per label (k,) maximizing that label's F1 (p >= t). Ties keep the one nearest 0.5."""
    order = THRESHOLD_GRID[np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="stable")]
    if task == "binary":
        p, y = np.asarray(probs, float).reshape(-1), np.asarray(targets, int).reshape(-1)
        scores = [decision_metrics((p > t).astype(int), y, "binary", 2)["f1_macro"] for t in order]
        return np.array([order[int(np.argmax(scores))]])
    p, y = np.asarray(probs, float), np.asarray(targets).astype(bool)
    chosen = []
    for j in range(p.shape[1]):
        scores = [
            np.nan_to_num(label_f1((p[:, j : j + 1] >= t), y[:, j : j + 1])[0], nan=-1.0)
            for t in order
        ]
        chosen.append(order[int(np.argmax(scores))])
    return np.array(chosen)
