"""The LightningModule of families whose network is a whole transformers task model
(sft.model.task_model): object detection, semantic segmentation, speech to text and speaker
verification (its SpeakerModule subclasses this one).

The model computes its own loss from the batch's `labels` (a detector's Hungarian-matched
class and box losses, a segmenter's per-pixel cross-entropy), so there is no sft head or loss
config; what differs between the families (the model inputs, turning outputs into
predictions, the metrics, the pictures) is asked of the task. Everything else (optimizer
groups, fine-tuning strategies, regularizers, checkpoints, resume, saving) is SFTModule's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from sft.config.instantiate import instantiate
from sft.config.metric_keys import label_keys
from sft.model.module import SFTModule
from sft.tasks.base import PICTURES_DIR, TABLES_DIR


def build_task_module(cfg, datamodule, module_class=None, **extra) -> TaskModelModule:
    """The run's TaskModelModule: the task's `auto_class` model from `model.name_or_path`
    (`model.init`, `model.backbone_from`) with a head for the data's labels, the configured
    optimizer, scheduler, regularizer and fine-tuning strategy. `module_class`: a subclass
    of TaskModelModule to build instead (speaker_verification's SpeakerModule), handed the
    keyword arguments `extra` beside these."""
    labels = datamodule.labels
    task = labels.kind
    # What the task sets in the model from the data beyond the labels (optional: a CTC
    # vocabulary's size and blank id; `label_names` replaced when outputs are no labels).
    inputs = {"auto_class_name": task.auto_class, "label_names": list(labels.names)}
    if hasattr(task, "model_settings"):
        inputs.update(task.model_settings(datamodule))
    # The model config's target is sft.model.task_model.load_task_model (sft.tasks.checks).
    model = instantiate(cfg.model, **inputs)
    regularizer = instantiate(cfg.regularizer) if cfg.regularizer.get("_target_") else None
    return (module_class or TaskModelModule)(
        model,
        task,
        labels.names,
        processor=datamodule.processor,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler),
        regularizer=regularizer,
        finetune=instantiate(cfg.finetune),
        threshold=float(cfg.data.get("threshold", 0.5)),
        pictures=int(cfg.data.get("pictures", 0)),
        worst_examples=int(cfg.data.get("worst_examples", 0)),
        **extra,
    )


class TaskModelModule(SFTModule):
    """Fine-tunes a transformers task model on the loss it computes itself.

    Batches (the family's collate): the model inputs named by `task.model_inputs`, `labels`
    as the model's forward takes them, `targets` (the metrics' ground truth) and `paths` (the
    image files, for pictures). `pictures`: how many val/test images of an epoch are drawn
    (prediction beside ground truth, `task.draw`) into `<run folder>/pictures/<stage>/`.
    `worst_examples`: for a task with `example_rows` (one table row per example: speech's
    reference, hypothesis and CER) and `worst_by` (the row's error column), the test split's
    N worst rows are written as an MLflow table (JSON, "split" orientation) to
    `<run folder>/tables/test_worst.json`.
    """

    def __init__(
        self,
        model,
        task,
        label_names,
        processor,
        optimizer,
        scheduler=None,
        regularizer=None,
        finetune=None,
        threshold: float = 0.5,
        pictures: int = 0,
        worst_examples: int = 0,
    ):
        # No sft head, no sft loss: an empty head keeps the optimizer groups and saving of
        # SFTModule working unchanged (it has no parameters).
        super().__init__(
            model,
            nn.Identity(),
            None,
            task,
            label_names,
            optimizer=optimizer,
            scheduler=scheduler,
            regularizer=regularizer,
            finetune=finetune,
            threshold=threshold,
        )
        self.processor = processor
        self.pictures = int(pictures)
        self.kept: dict[str, list] = {"val": [], "test": []}
        self.worst_examples = int(worst_examples) if hasattr(task, "example_rows") else 0
        self.rows: list[dict] = []  # the test split's example rows (worst-N table)

    def forward(self, **inputs):
        """The model's output for the batch's model inputs (and `labels`: with its loss)."""
        return self.backbone(**inputs)

    def _model_inputs(self, batch: dict) -> dict:
        return {k: batch[k] for k in self.task.model_inputs if k in batch}

    def training_step(self, batch, batch_idx):
        outputs = self(**self._model_inputs(batch), labels=batch["labels"])
        loss = outputs.loss
        size = len(batch["labels"])
        self._log_mean("loss", "train/loss", loss, size, on_step=True, prog_bar=True)
        if self.regularizer is not None:
            terms = self.regularizer.terms(self)
            penalty = sum(terms.values())
            self._log_mean("reg_loss", "train/reg_loss", penalty, size, on_step=True)
            for name, value in terms.items():
                self._log_mean(f"reg_{name}", f"train/reg/{name}", value, size, on_step=False)
            loss = loss + penalty
        return loss

    def _evaluate(self, batch, loss_metric, metrics, per_class):
        outputs = self(**self._model_inputs(batch), labels=batch["labels"])
        size = len(batch["labels"])
        loss_metric.update(outputs.loss.detach(), weight=size)
        # The model itself too: CTC decoding asks it for output lengths, Whisper generates.
        preds = self.task.batch_predictions(outputs, batch, self.processor, self.backbone.encoder)
        targets = self.task.metric_targets(batch["targets"])
        metrics.update(preds, targets)
        if per_class is not None:
            per_class.update(preds, targets)
        stage = "test" if metrics is self.test_metrics else "val"
        if stage == "test" and self.worst_examples:
            self.rows += self.task.example_rows(preds, targets, batch)
        kept = self.kept[stage]
        for i in range(min(size, self.pictures - len(kept))):
            kept.append((batch["paths"][i], _cpu(preds[i]), _cpu(batch["targets"][i])))

    def _log_epoch(self, stage, loss_metric, metrics, per_class) -> dict:
        """Log `<stage>/loss`, the task's summary metrics and `<stage>/per_class/<measure>/
        <class key>` for the classes the split has; draw the kept pictures; return the class
        report with a `table` (class, measure, present) for the run's per-class report."""
        values = {f"{stage}/loss": loss_metric.compute()}
        summary, report = self.task.epoch_values(metrics, per_class)
        values.update({f"{stage}/{k}": v for k, v in summary.items()})
        names = self.task.class_names(self.label_names)
        if report:
            measure, keys = report["measure"], label_keys(names)
            for name, value, present in zip(names, report["values"], report["present"]):
                if present:
                    values[f"{stage}/per_class/{measure}/{keys[name]}"] = torch.as_tensor(
                        value
                    ).float()
            report["table"] = {
                "label": names,
                measure: [float(v) for v in report["values"]],
                "present": [bool(p) for p in report["present"]],
            }
        if per_class is not None:
            per_class.reset()
        self.log_dict(values, prog_bar=False)
        loss_metric.reset()
        metrics.reset()
        self._draw(stage)
        if stage == "test":
            self._write_worst()
        report["summary"] = {k: float(v) for k, v in values.items()}
        return report

    def _draw(self, stage: str) -> None:
        """Save the kept images' pictures (rank zero; not in Lightning's sanity check, whose
        two batches are no epoch), then forget them."""
        kept, self.kept[stage] = self.kept[stage], []
        trainer = getattr(self, "_trainer", None)
        if not kept or trainer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        folder = Path(trainer.default_root_dir) / PICTURES_DIR / stage
        folder.mkdir(parents=True, exist_ok=True)
        for i, (path, pred, target) in enumerate(kept):
            picture = self.task.draw(path, pred, target, self.label_names, self.threshold)
            # One file per kept image, overwritten each epoch: the folder shows the last one.
            picture.save(folder / f"{i:02d}_{Path(path).stem}.png")

    def _write_worst(self) -> None:
        """The test split's `worst_examples` rows with the highest `task.worst_by`, as an
        MLflow table file (rank zero), logged with the run's artifacts (TABLES_DIR)."""
        rows, self.rows = self.rows, []
        trainer = getattr(self, "_trainer", None)
        if not rows or trainer is None or not trainer.is_global_zero:
            return
        key = self.task.worst_by
        worst = sorted(rows, key=lambda row: -row[key])[: self.worst_examples]
        columns = list(worst[0])
        folder = Path(trainer.default_root_dir) / TABLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        table = {"columns": columns, "data": [[row[c] for c in columns] for row in worst]}
        (folder / "test_worst.json").write_text(json.dumps(table, indent=1, ensure_ascii=False))


def _cpu(value):
    """A prediction or target (a tensor, or a dict of tensors) detached on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    return value
