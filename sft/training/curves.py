"""What the MLflow run page shows first: the learning curves, one learning rate.

MLflow's run page draws one chart per metric in sections named by the metric's prefix, the
sections in character order (checked in a headless browser, MLflow 3.17: `Curves/` before
`best/`, `best/` before `lr-AdamW/`, `params/`, `perf/`, `test/`, `time/`, `train/` and
`val/`). So the train and val losses and the monitored metric are logged once more, per epoch,
under `Learning curves/`, which sorts first; their `train/` and `val/` originals stay for
leaderboards, sweeps and `sft-reproduce`. And Lightning's LearningRateMonitor draws a chart
per parameter group: four identical ones for a full fine-tune (backbone and head, each with
and without weight decay). Every group follows the same schedule (LLRD scales it per layer),
so one curve says it: the head's, also under `Learning curves/`.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor

SECTION = "Learning curves"


class LearningCurves(pl.Callback):
    """Per epoch: `Learning curves/train loss`, `.../val loss` and `.../<monitored metric>`
    (e.g. `val f1_macro`), at the training step the epoch ended on."""

    def __init__(self, monitor: str):
        self.keys = {
            "train/loss_epoch": "train loss",
            "val/loss": "val loss",
            monitor: monitor.replace("/", " "),
        }

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.logger is None or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        values = {
            f"{SECTION}/{name}": float(metrics[key])
            for key, name in self.keys.items()
            if key in metrics
        }
        if values:  # at the step Lightning logs the epoch's own metrics
            trainer.logger.log_metrics(values, step=max(trainer.global_step - 1, 0))


class HeadLearningRate(LearningRateMonitor):
    """Lightning's LearningRateMonitor, logging one learning rate as `Learning curves/lr`: the
    head group's (named `head`), else the first group's."""

    def _extract_stats(self, trainer, interval: str) -> dict[str, float]:
        stats = super()._extract_stats(trainer, interval)
        lrs = [key for key in stats if key.startswith("lr-")]
        if not lrs:
            return {}
        head = next((key for key in lrs if key.endswith("/head")), lrs[0])
        return {f"{SECTION}/lr": stats[head]}
