"""After training, with the best checkpoint restored: temperature scaling and tuned decisions
fitted on the validation predictions (the task's: sft.tasks.sequence.decisions), their effect
measured on validation and test, and a reliability diagram. Tasks that do not declare the
`calibration` / `decisions` features (regression) skip them.

Metrics: `<split>/ece` and `<split>/ece_calibrated` (expected calibration error, 15 equal-width
confidence bins, Naeini et al. 2015, by torchmetrics), `decisions/temperature`, and the tuned
decisions' `<split>/<metric>_tuned` next to the untuned `<split>/<metric>`. Keys:
`decisions.calibrate` (temperature | none), `decisions.tune` (true | false).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from sft.tasks import as_task
from sft.tasks.sequence.decisions import T_BOUNDS, tuned_metric
from sft.tasks.sequence.metrics import ECE_BINS

log = logging.getLogger(__name__)

# Mean NLL (nats) under which a fitted temperature is not identified: probabilities of the
# true class >= 0.999 on average, the whole split separated.
DEGENERATE_NLL = 1e-3
# Validation examples under which a fitted temperature is named in a warning: one scalar fitted
# on a handful of examples is noise (on 5, it took test ECE from 0.172 to 0.207), and ECE's 15
# bins need tens of examples to say anything.
MIN_FIT_EXAMPLES = 50
DIAGRAM_INCHES, DIAGRAM_DPI = 5.0, 100  # 500 x 500 pixels


def batches_taken(trainer_cfg, split: str, length: int) -> int:
    """How many of a `split` loader's `length` batches Lightning evaluates under
    `trainer_cfg` (its limit_<split>_batches: an int counts batches, a float is a share of
    them, rounded down; fast_dev_run: that many, True one), so that the post-hoc metrics sit
    on the rows the logged metrics beside them were computed on."""
    trainer_cfg = trainer_cfg or {}
    fast = trainer_cfg.get("fast_dev_run")
    if fast:
        return min(length, 1 if fast is True else int(fast))
    limit = trainer_cfg.get(f"limit_{split}_batches")
    if limit is None:
        return length
    if isinstance(limit, int) or float(limit) > 1.0:
        return min(length, int(limit))
    return int(length * float(limit))


def collect(module, loader, batches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The module's raw outputs (n, k) and the targets of the first `batches` batches of
    `loader` (None: all), in order."""
    outputs, targets = [], []
    was_training = module.training
    module.eval()
    with torch.inference_mode():
        for index, batch in enumerate(loader):
            if batches is not None and index >= batches:
                break
            batch = {k: v.to(module.device) for k, v in batch.items()}
            labels = batch.pop("labels")
            outputs.append(module(**batch).float().cpu())
            targets.append(labels.cpu())
    module.train(was_training)
    if not outputs:  # a limit of 0 batches
        return np.zeros((0, 0)), np.zeros((0,))
    return torch.cat(outputs).numpy(), torch.cat(targets).numpy()


def usable_temperature(logits: np.ndarray, targets: np.ndarray, task) -> float | None:
    """The temperature fitted on (`logits` (n, k), `targets`) by `task` (a Task or its
    name; sft.tasks.sequence.decisions.fit_temperature), or None,
    with one warning line, when it is not identified: it reached a bound of T_BOUNDS, or the
    scaled NLL is below DEGENERATE_NLL (every example right with near-certainty, so any
    smaller T fits better: a split so small or so well separated that scaling only pushes
    probabilities to 0 and 1; 4 examples gave T = 0.05 and served probabilities of 1e-20).
    The raw probabilities are then the saner choice. A temperature fitted on fewer than
    MIN_FIT_EXAMPLES examples is applied with one warning line naming the count."""
    task = as_task(task)
    fitted = task.fit_temperature(logits, targets)
    if (
        min(abs(np.log(fitted / bound)) for bound in T_BOUNDS) < 0.01
        or task.nll(logits, targets, fitted) < DEGENERATE_NLL
    ):
        log.warning(
            "decisions.calibrate: the temperature fitted on %d validation examples "
            "reached its bound (%.3g), so it is not applied; give a larger validation "
            "split or set decisions.calibrate=none",
            len(logits),
            fitted,
        )
        return None
    if len(logits) < MIN_FIT_EXAMPLES:
        log.warning(
            "decisions.calibrate: the temperature (%.3g) was fitted on only %d validation "
            "examples (fewer than %d), so it may make the probabilities worse, not better; "
            "give a larger validation split (data.val_fraction) or set decisions.calibrate=none",
            fitted,
            len(logits),
            MIN_FIT_EXAMPLES,
        )
    return fitted


def _wanted(cfg, task) -> tuple[bool, bool]:
    """(calibrate, tune): what `cfg.decisions` asks for that `task` supports."""
    settings = cfg.get("decisions") or {}
    calibrate = settings.get("calibrate", "none") == "temperature" and task.supports("calibration")
    return calibrate, bool(settings.get("tune", False)) and task.supports("decisions")


def wants_logits(cfg, task) -> bool:
    """Whether `post_hoc` will fit anything for `task` under `cfg`, and so needs the
    validation and test passes' raw outputs (sft.training.run keeps them)."""
    return any(_wanted(cfg, task))


def post_hoc(
    cfg, module, datamodule, run_dir: Path, evaluated: dict | None = None
) -> tuple[dict, dict, list[Path]]:
    """Fit what `cfg.decisions` asks for on the validation split; return the metrics to log,
    the spec fields to save with the model (temperature, class_bias, thresholds) and the
    artifacts written (reliability_diagram.png). Nothing for a task without the
    `calibration` and `decisions` features (regression) or without a validation split.

    `evaluated`: split -> the evaluation pass (sft.model.module.Evaluation: `logits`,
    `targets`) that the run's validation / test already made with the weights `module` holds
    (sft.training.run.RunResult.evaluated); those splits are not run through the model again.
    A split missing there is collected with `module` (one pass)."""
    task = module.task
    calibrate, tune = _wanted(cfg, task)
    if not (calibrate or tune) or not datamodule.has_split("val"):
        return {}, {}, []
    # the rows of trainer.limit_val_batches / limit_test_batches, as the metrics beside these
    # (a kept pass took the same batches: Lightning applied those limits to it)
    splits = {}
    for split in ("val", "test") if datamodule.has_split("test") else ("val",):
        kept = (evaluated or {}).get(split)
        if kept is not None:
            splits[split] = (kept.logits, kept.targets)
            continue
        loader = getattr(datamodule, f"{split}_dataloader")()
        splits[split] = collect(
            module, loader, batches_taken(cfg.get("trainer"), split, len(loader))
        )
    splits = {name: rows for name, rows in splits.items() if len(rows[0])}  # a limit of 0
    if "val" not in splits:  # nothing to fit on
        return {}, {}, []
    # binary targets arrive as floats (BCE); decisions count ids
    splits = {name: (z, task.decision_targets(y)) for name, (z, y) in splits.items()}
    val_logits, val_targets = splits["val"]
    spec: dict = {}
    if calibrate:
        fitted = usable_temperature(val_logits, val_targets, task)
        if fitted is not None:
            spec["temperature"] = fitted
    temperature = spec.get("temperature", 1.0)
    if tune:
        spec.update(
            task.tune_logits(val_logits, val_targets, tuned_metric(cfg.monitor.metric), temperature)
        )
    metrics = {"decisions/temperature": temperature} if calibrate else {}
    k = max(len(module.label_names), 2)
    for split, (logits, targets) in splits.items():
        metrics[f"{split}/ece"] = task.ece(task.probabilities(logits), targets)
        if calibrate:
            metrics[f"{split}/ece_calibrated"] = task.ece(
                task.probabilities(logits, temperature), targets
            )
        if tune:
            tuned = task.decision_metrics(task.decide_logits(logits, spec), targets, k)
            metrics.update({f"{split}/{name}_tuned": v for name, v in tuned.items()})
    log.info(
        "Post-hoc decisions %s: %s",
        spec,
        ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())),
    )
    diagram = reliability_diagram(
        splits.get("test", splits["val"]),
        task,
        temperature,
        run_dir / "reliability_diagram.png",
        "test" if "test" in splits else "val",
    )
    return metrics, spec, [diagram]


def reliability_diagram(
    split: tuple[np.ndarray, np.ndarray], task, temperature: float, path: Path, name: str
) -> Path:
    """Accuracy against confidence per ECE bin, before and after temperature scaling, as a
    PNG of DIAGRAM_INCHES * DIAGRAM_DPI pixels square (500 x 500)."""
    import matplotlib  # lazy: matplotlib only when a run writes a picture

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    logits, targets = split
    fig, ax = plt.subplots(figsize=(DIAGRAM_INCHES, DIAGRAM_INCHES))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    shown = [("uncalibrated", 1.0)] + (
        [(f"T = {temperature:.2f}", temperature)] if temperature != 1.0 else []
    )
    for label, t in shown:
        conf, correct = task.confidence(task.probabilities(logits, t), targets)
        edges = np.linspace(0, 1, ECE_BINS + 1)
        bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, ECE_BINS - 1)
        xs = [conf[bins == b].mean() for b in range(ECE_BINS) if (bins == b).any()]
        ys = [correct[bins == b].mean() for b in range(ECE_BINS) if (bins == b).any()]
        ece = task.ece(task.probabilities(logits, t), targets)
        ax.plot(xs, ys, marker="o", label=f"{label} (ECE {ece:.3f})")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence",
        ylabel="accuracy",
        title=f"Reliability ({name}, {ECE_BINS} bins)",
    )
    ax.legend(loc="upper left")
    fig.savefig(path, dpi=DIAGRAM_DPI)
    plt.close(fig)
    return path
