"""`cv.ensemble=true`: the children's models of a CV or seed-repeat run become one model
(sft.inference.ensemble) in the parent's run folder, tested on the test split (metrics
`ensemble/test/...` on the parent) and logged (and registered) as the parent's model.

For folds, the members' calibration and the ensemble's tuned decisions come from the
out-of-fold predictions (sft.training.oof_decisions)."""

from __future__ import annotations

from pathlib import Path

from sft.inference.ensemble import build_ensemble
from sft.inference.predictor import load
from sft.tasks import as_task
from sft.training.model_card import write_ensemble_card
from sft.training.oof_decisions import ensemble_test_metrics, oof_decisions
from sft.training.recording import register
from sft.training.run_outputs import Registration


def ensemble_model(
    cfg,
    tracker,
    outcomes: list[dict],
    names: list[str],
    run_dir: Path,
    plan: Registration,
    folds: bool,
) -> tuple[dict, str | None]:
    """Build the ensemble of the children's model folders under `run_dir/model` (with folds
    and `decisions.tune`, decision rules tuned on the OOF predictions), log its test and OOF
    decision metrics and the model on the parent `tracker`; return the metrics logged and the
    model's URI (None: not logged)."""
    first = outcomes[0]
    task = as_task(first["task"])
    metrics, rules = {}, {}
    if folds and task.supports("decisions"):
        decisions = cfg.get("decisions") or {}
        metrics, rules = oof_decisions(
            outcomes, task, bool(decisions.get("tune", False)), str(cfg.monitor.metric)
        )
    elif (cfg.get("decisions") or {}).get("tune") and task.supports("decisions"):
        print(
            "decisions.tune: a seed ensemble has no out-of-fold predictions to tune on; its "
            "decisions are untuned (use cv.folds=K)"
        )
    model_dir = build_ensemble(
        {n: Path(o["model_dir"]) for n, o in zip(names, outcomes)}, run_dir / "model", rules
    )
    predictor = load(model_dir)
    if first["test_texts"]:
        probs = predictor.probabilities(first["test_texts"])
        metrics.update(
            ensemble_test_metrics(probs, outcomes, first["test_targets"], task, rules)
            if task.supports("decisions")
            else task.ensemble_metrics(probs, first["test_targets"])
        )
    if metrics:
        tracker.log_metrics(metrics)
    card = write_ensemble_card(
        model_dir, cfg, task, list(names), metrics, tracker.run_id, plan.now or plan.later
    )
    tracker.log_artifact(card)  # also inside the logged model, with the folder
    examples = (first["test_texts"] or first["val_texts"])[:3]
    uri = tracker.log_model(model_dir, examples)
    if uri:  # registered as a single run's model is (logger.register; a sweep's best job)
        uri = register(tracker, plan, uri)
    tracker.set_tags({"sft.model_dir": str(model_dir.resolve())})
    print(f"Ensemble of {len(outcomes)} models: {model_dir}" + (f" ({uri})" if uri else ""))
    return metrics, uri
