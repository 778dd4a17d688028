"""`cv.ensemble=true`: the children's models of a CV or seed-repeat run become one model
(sft.inference.ensemble) in the parent's run folder, tested on the test split (metrics
`ensemble/test/...` on the parent) and logged (and registered) as the parent's model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sft.inference.ensemble import build_ensemble
from sft.inference.predictor import load
from sft.training.run import register
from sft.training.run_outputs import Registration


def ensemble_metrics(probabilities: np.ndarray, targets: np.ndarray, task: str) -> dict:
    """`ensemble/test/...` of averaged probabilities [n, labels] (regression: values [n, 1])
    against the encoded test targets: accuracy and macro F1 (scikit-learn), or mse and mae."""
    from sklearn.metrics import accuracy_score, f1_score  # lazy: only when an ensemble is made

    if task == "regression":
        error = probabilities[:, 0] - targets.astype(np.float64)
        return {"ensemble/test/mse": float(np.mean(error ** 2)),
                "ensemble/test/mae": float(np.mean(np.abs(error)))}
    if task == "multilabel":
        preds = (probabilities >= 0.5).astype(int)
        return {"ensemble/test/f1_macro": float(f1_score(targets.astype(int), preds,
                                                         average="macro", zero_division=0))}
    preds = probabilities.argmax(axis=1)
    return {"ensemble/test/acc": float(accuracy_score(targets, preds)),
            "ensemble/test/f1_macro": float(f1_score(targets, preds, average="macro",
                                                     zero_division=0))}


def ensemble_model(cfg, tracker, outcomes: list[dict], names: list[str], run_dir: Path,
                   plan: Registration) -> dict:
    """Build the ensemble of the children's model folders under `run_dir/model`, log its
    test metrics and the model on the parent `tracker`; return the metrics logged."""
    model_dir = build_ensemble({n: Path(o["model_dir"]) for n, o in zip(names, outcomes)},
                               run_dir / "model")
    predictor = load(model_dir)
    metrics = {}
    first = outcomes[0]
    if first["test_texts"]:
        probabilities = predictor.probabilities(first["test_texts"])
        metrics = ensemble_metrics(probabilities, first["test_targets"], first["task"])
        tracker.log_metrics(metrics)
    examples = (first["test_texts"] or first["val_texts"])[:3]
    uri = tracker.log_model(model_dir, examples)
    if uri:  # registered as a single run's model is (logger.register; a sweep's best job)
        uri = register(tracker, plan, uri)
    tracker.set_tags({"sft.model_dir": str(model_dir.resolve())})
    print(f"Ensemble of {len(outcomes)} models: {model_dir}" + (f" ({uri})" if uri else ""))
    return metrics
