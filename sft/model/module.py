"""The LightningModule: backbone + head + loss (+ regularizer), optimized with param groups.

What differs between kinds of prediction (how outputs meet the loss, what the metrics
consume, which metrics there are) is asked of the task (sft.tasks), handed in by the run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torchmetrics import MeanMetric

from sft.config.metric_keys import (
    PER_CLASS_LOGGED_MAX,
    label_keys,
    logs_per_class,
    per_class_metric,
)
from sft.model.finetune import FullFineTune


@dataclass
class Evaluation:
    """One evaluation pass over a split, kept for what runs after it (sft.training.calibrate,
    sft.training.fold_outcome) so that they need no pass of their own: `step`, the trainer's
    global step when it ran (which weights it saw); `logits` (n, k) float32, the raw outputs,
    and `targets` (n, ...), the batch labels as the loader gave them, both in the loader's
    (length-sorted) order; `summary`, the metrics it logged (`val/acc`, ...)."""

    step: int
    logits: np.ndarray
    targets: np.ndarray
    summary: dict = field(default_factory=dict)


class SFTModule(pl.LightningModule):
    """Fine-tunes `backbone` + `head` on `loss`; logs train/val/test metrics by stable names."""

    def __init__(
        self,
        backbone,
        head,
        loss,
        task,
        label_names: list[str],
        optimizer: partial,
        scheduler: partial | None = None,
        regularizer=None,
        finetune=None,
        threshold: float = 0.5,
        target_scale: tuple[float, float] | None = None,
    ):
        """`task`: the Task object (sft.tasks.get_task); `threshold`: multilabel decision
        threshold; `target_scale`: (mean, std) when the regression targets are standardized
        (the model then learns (y - mean) / std)."""
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.loss_fn = loss
        self.task = task
        self.label_names = list(label_names)
        self.threshold = float(threshold)
        self.target_scale = None if target_scale is None else tuple(map(float, target_scale))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.regularizer = regularizer
        self.finetune = finetune if finetune is not None else FullFineTune()
        # Freeze, wrap in adapters or re-initialize now: before the optimizer, the checkpoint
        # callback and the regularizer (whose reference weights are these) see the module.
        self.finetune.prepare(self)
        if hasattr(regularizer, "bind"):  # L2-SP: the weights training starts from
            regularizer.bind(self)
        n, t, names = len(self.label_names), self.threshold, self.label_names
        self.val_metrics = task.summary_metrics(n, t, label_names=names)
        self.val_per_class = task.per_class_metrics(n, t, label_names=names)
        self.test_metrics = task.summary_metrics(n, t, label_names=names)
        self.test_per_class = task.per_class_metrics(n, t, label_names=names)
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.test_report: dict = {}
        # Keep each evaluation pass's raw outputs (set by sft.training.run when the post-hoc
        # step or a fold's outcome needs them; rows x classes float32): the latest pass per
        # split in `evaluations` ("val", "test"), and "val_best", the validation pass whose
        # weights the checkpoint callback saved as the best.
        self.keep_outputs = False
        self.evaluations: dict[str, Evaluation] = {}
        self._kept: dict[str, list] = {}
        self._best_seen: tuple | None = None  # the best checkpoint at the last look
        # the splits whose absent classes were named; "per_class": per-class F1 not logged
        self.warned_absent: set[str] = set()
        # Epoch means of the training losses, kept here rather than in Lightning's own
        # accumulators so that they are saved in checkpoints: a run resumed mid-epoch then
        # logs the same epoch mean as one that was never stopped.
        self.train_means = nn.ModuleDict({"loss": _persistent_mean()})
        if regularizer is not None:
            self.train_means["reg_loss"] = _persistent_mean()
            with torch.no_grad():
                for name in regularizer.terms(self):
                    self.train_means[f"reg_{name}"] = _persistent_mean()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **features,
    ) -> torch.Tensor:
        """Text: token ids and mask; images and audio: their `pixel_values` / `input_values`."""
        return self.head(self.backbone(input_ids, attention_mask, **features))

    def training_step(self, batch, batch_idx):
        outputs = self(**_inputs(batch))
        loss = self._loss(outputs, batch["labels"])
        size = batch["labels"].shape[0]
        self._log_mean("loss", "train/loss", loss, size, on_step=True, prog_bar=True)
        if self.regularizer is not None:
            terms = self.regularizer.terms(self)
            penalty = sum(terms.values())
            self._log_mean("reg_loss", "train/reg_loss", penalty, size, on_step=True)
            for name, value in terms.items():
                self._log_mean(f"reg_{name}", f"train/reg/{name}", value, size, on_step=False)
            loss = loss + penalty
        return loss

    def _log_mean(
        self,
        slot: str,
        name: str,
        value: torch.Tensor,
        size: int,
        on_step: bool,
        prog_bar: bool = False,
    ) -> None:
        """Log `value` per step (if `on_step`) and as the epoch mean weighted by batch size."""
        mean = self.train_means[slot]
        mean(value.detach(), size)  # forward: accumulate, and keep the batch value for the step
        self.log(name, mean, on_step=on_step, on_epoch=True, prog_bar=prog_bar, batch_size=size)

    def on_train_epoch_end(self):
        # At the end rather than the start: a run resumed mid-epoch skips the epoch-start hooks.
        # The trainable set is still this epoch's (gradual unfreezing changes it at the start).
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters())
        self.log_dict({"params/trainable": float(trainable), "params/total": float(total)})

    def validation_step(self, batch, batch_idx):
        outputs = self._evaluate(batch, self.val_loss, self.val_metrics, self.val_per_class)
        self._keep("val", outputs, batch.get("labels"))

    def test_step(self, batch, batch_idx):
        outputs = self._evaluate(batch, self.test_loss, self.test_metrics, self.test_per_class)
        self._keep("test", outputs, batch.get("labels"))

    def _keep(self, stage: str, outputs, targets) -> None:
        """Add a batch's raw outputs and labels to the pass being kept (keep_outputs)."""
        # a family's own _evaluate (sft.tasks.task_model) returns no tensor: nothing to keep
        if self.keep_outputs and isinstance(outputs, torch.Tensor) and targets is not None:
            batches = self._kept.setdefault(stage, [])
            batches.append((outputs.detach().float().cpu(), targets.detach().cpu()))

    def on_validation_epoch_start(self):
        self._kept.pop("val", None)

    def on_test_epoch_start(self):
        self._kept.pop("test", None)

    def on_validation_start(self):
        self._pin_best()
        self.evaluations.pop("val", None)  # replaced by this pass: not held twice meanwhile

    def on_fit_end(self):
        self._pin_best()

    def _pin_best(self) -> None:
        """Keep the latest validation pass as "val_best" when the checkpoint callback saved a
        new best since it ran. Lightning saves it after the pass (at the training epoch's end,
        after the module's own hooks, or at the validation's end), at the pass's step, so it
        is looked at here, before the next pass and at the fit's end; sft.training.run checks
        the step against the restored checkpoint's before it reuses the pass."""
        best = _best_checkpoint(self._trainer)
        if "val" in self.evaluations and best is not None and best != self._best_seen:
            self.evaluations["val_best"] = self.evaluations["val"]
        self._best_seen = best

    def _evaluate(self, batch, loss_metric, metrics, per_class):
        outputs = self(**_inputs(batch))
        targets = batch["labels"]
        loss_metric.update(self._loss(outputs, targets), weight=targets.shape[0])
        preds = self.predict_outputs(outputs)
        targets = self.task.metric_targets(targets)
        metrics.update(preds, targets)
        if per_class is not None:
            per_class.update(preds, targets)
        return outputs

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.target_scale is not None:
            mean, std = self.target_scale
            targets = (targets - mean) / std
        return self.loss_fn(*self.task.loss_inputs(outputs, targets))

    def predict_outputs(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the metrics consume (the task's `predictions`): probabilities
        (classification) or values in the target's units (regression)."""
        preds = self.task.predictions(outputs)
        if self.target_scale is not None:
            mean, std = self.target_scale
            preds = preds * std + mean
        return preds

    def on_validation_epoch_end(self):
        self._log_epoch("val", self.val_loss, self.val_metrics, self.val_per_class)

    def on_test_epoch_end(self):
        self.test_report = self._log_epoch(
            "test", self.test_loss, self.test_metrics, self.test_per_class
        )

    def _log_epoch(self, stage, loss_metric, metrics, per_class) -> dict:
        """Log `<stage>/<summary>` and `<stage>/per_class/f1/<class key>` (present classes
        only: an absent class has no F1, sft.tasks.sequence.metrics); return the class
        report. The classes are the task's `class_names` (labels; entity types)."""
        values = {f"{stage}/loss": loss_metric.compute()}
        summary, report = self.task.epoch_values(metrics, per_class)
        values.update({f"{stage}/{k}": v for k, v in summary.items()})
        if per_class is not None:
            names = self.task.class_names(self.label_names)
            if logs_per_class(len(names)):
                keys = label_keys(names)
                for name, f1, present in zip(names, report["f1"], report["present"]):
                    if present:
                        values[per_class_metric(stage, keys[name])] = f1.float()
            elif "per_class" not in self.warned_absent:  # once per run
                self.warned_absent.add("per_class")
                warnings.warn(
                    f"{len(names)} classes: per-class F1 is not logged to MLflow above "
                    f"{PER_CLASS_LOGGED_MAX} classes (sft.config.metric_keys); "
                    f"per_class_report.csv holds every class",
                    UserWarning,
                    stacklevel=2,
                )
            self._warn_absent(stage, names, report["present"])
            per_class.reset()
        self.log_dict(values, prog_bar=False)
        loss_metric.reset()
        metrics.reset()
        report["summary"] = {k: float(v) for k, v in values.items()}
        kept = self._kept.pop(stage, None)
        trainer = getattr(self, "_trainer", None)
        if kept and not getattr(trainer, "sanity_checking", False):
            self.evaluations[stage] = Evaluation(
                int(trainer.global_step) if trainer is not None else 0,
                torch.cat([z for z, _ in kept]).numpy(),
                torch.cat([y for _, y in kept]).numpy(),
                dict(report["summary"]),
            )
        return report

    def _warn_absent(self, stage: str, names: list[str], present) -> None:
        """Warn once per split (not per epoch, not in Lightning's sanity check) naming the
        classes the split lacks: its macros leave them out."""
        trainer = getattr(self, "_trainer", None)
        absent = [n for n, p in zip(names, present) if not p]
        if not absent or stage in self.warned_absent or getattr(trainer, "sanity_checking", False):
            return
        self.warned_absent.add(stage)
        shown = ", ".join(map(repr, absent[:20])) + (
            f" and {len(absent) - 20} more" if len(absent) > 20 else ""
        )  # one readable line, also with 10,000 classes
        warnings.warn(
            f"the {stage} split has no example of {len(absent)} of "
            f"{len(names)} classes ({shown}): its "
            f"macro metrics average over the classes it has, and these have no "
            f"per-class metrics there",
            UserWarning,
            stacklevel=2,
        )

    def configure_optimizers(self):
        settings = self.optimizer_factory.keywords
        groups = self.finetune.param_groups(self, settings["lr"], settings.get("weight_decay", 0.0))
        optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        steps = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, num_training_steps=steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }


def _best_checkpoint(trainer) -> tuple | None:
    """(path, score) of the first checkpoint callback's best checkpoint (None: none yet)."""
    for callback in getattr(trainer, "checkpoint_callbacks", None) or []:
        if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
            score = callback.best_model_score
            return callback.best_model_path, None if score is None else float(score)
    return None


def _inputs(batch: dict) -> dict:
    """A batch's model inputs: everything but the labels."""
    return {k: v for k, v in batch.items() if k != "labels"}


def _persistent_mean() -> MeanMetric:
    mean = MeanMetric()
    mean.persistent(True)  # in the module's state_dict, hence in checkpoints
    return mean
