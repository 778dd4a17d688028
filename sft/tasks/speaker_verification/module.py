"""The LightningModule of speaker verification: the task-model module (sft.tasks.task_model)
whose evaluation scores trials instead of comparing predictions with labels.

Training is the task-model module's: the x-vector model's own AM-softmax loss over the train
speakers. Evaluation embeds every clip of the split and scores cosine trials among them
(trials.TrialMetrics): the split's voices may be ones the model never trained on, which the
loss cannot score; `<stage>/loss` is the loss over the clips of train speakers, logged when
the split has some. The validation split's equal-error-rate threshold is kept in a buffer,
so the best checkpoint carries the threshold of its own epoch into sft_model.json.
"""

from __future__ import annotations

import torch

from sft.tasks.speaker_verification.trials import TrialMetrics
from sft.tasks.task_model import TaskModelModule, build_task_module


def build_speaker_module(cfg, datamodule) -> SpeakerModule:
    """The run's SpeakerModule: the `AutoModelForAudioXVector` model of `model.name_or_path`
    (`model.init`) with a head for the train speakers, the configured optimizer, scheduler,
    regularizer and fine-tuning strategy (build_task_module's); `data.trials` trials per
    split, drawn by `seed`."""
    return build_task_module(
        cfg, datamodule, SpeakerModule, trials=int(datamodule.trials), seed=int(cfg.seed)
    )


class SpeakerModule(TaskModelModule):
    """Fine-tunes an x-vector model on its own loss; evaluates by trials. Batches
    (data.collate): input_values, attention_mask, labels (train speaker ids, -1 for other
    voices), speakers (codes within the split). `verify_threshold`: the cosine at the last
    validation epoch's equal error rate (a buffer: saved in checkpoints)."""

    def __init__(self, *args, trials: int = 10000, seed: int = 0, **kwargs):
        kwargs["pictures"] = 0  # a clip has no picture to draw (whatever data.pictures says)
        super().__init__(*args, **kwargs)
        self.val_metrics = TrialMetrics(trials, seed)
        self.test_metrics = TrialMetrics(trials, seed)
        self.register_buffer("verify_threshold", torch.tensor(0.5))

    def _evaluate(self, batch, loss_metric, metrics, per_class):
        outputs = self(**self._model_inputs(batch))
        known = batch["labels"] >= 0
        if known.any():  # the loss of the clips whose speakers the model trains on
            model = self.backbone.encoder
            loss = model.objective(outputs.logits[known], batch["labels"][known])
            loss_metric.update(loss.detach(), weight=int(known.sum()))
        metrics.update(self.task.predictions(outputs), batch["speakers"])

    def _log_epoch(self, stage, loss_metric, metrics, per_class) -> dict:
        """Log `<stage>/eer`, `<stage>/min_dcf`, `<stage>/trials` and `<stage>/loss` (when
        the split has clips of train speakers); on validation keep the EER threshold."""
        computed = metrics.compute()
        values = {f"{stage}/{k}": computed[k] for k in ("eer", "min_dcf", "trials")}
        if loss_metric.update_count:
            values[f"{stage}/loss"] = loss_metric.compute()
        trainer = getattr(self, "_trainer", None)
        sanity = trainer is not None and trainer.sanity_checking
        if stage == "val" and not sanity and torch.isfinite(computed["threshold"]):
            self.verify_threshold.fill_(float(computed["threshold"]))
        self.log_dict(values, prog_bar=False)
        loss_metric.reset()
        metrics.reset()
        return {"summary": {k: float(v) for k, v in values.items()}}
