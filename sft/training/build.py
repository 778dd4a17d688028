"""Build a run's parts from its config: the LightningModule (backbone, head, loss,
regularizer, optimizer, fine-tuning strategy), the Trainer with its callbacks, the data
processor, and the task and monitored metric settled before the data is read.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from sft.config.instantiate import instantiate
from sft.config.metric_keys import monitor_mode
from sft.config.schema import implied_task
from sft.errors import SFTConfigError
from sft.model.backbone import load_tokenizer, resolve_model_path
from sft.model.losses import balanced_class_weights
from sft.model.module import SFTModule
from sft.tasks import family_of, get_task
from sft.training.distributed import check_accelerator
from sft.training.precision import resolve_precision
from sft.training.quiet import ModelSummary, drop_lightning_tips


def load_processor(name_or_path: str, modality: str, trust_remote_code: bool):
    """What turns the data into model inputs: the tokenizer (text), the image processor or
    the audio feature extractor saved with the model."""
    if modality == "text":
        return load_tokenizer(name_or_path, trust_remote_code)
    from sft.data.media import load_processor as load_media_processor  # lazy: PIL, scipy

    return load_media_processor(resolve_model_path(name_or_path), modality, trust_remote_code)


def expected_task(cfg: DictConfig):
    """The Task before reading data, as its family settles `data.task` (sequence: explicit,
    else the one the loss implies, else multiclass).

    The data can only confirm it: any other task fails the loss check once labels are read.
    """
    name = str(cfg.data.get("task", "auto"))
    return get_task(family_of(name).settle(name, implied_task(str(cfg.loss.get("_target_")))))


def build_module(cfg: DictConfig, datamodule) -> SFTModule:
    """Instantiate backbone, head, loss, regularizer and optimizer from their config groups
    (or the task's own module, `task.module`: detection, segmentation)."""
    labels = datamodule.labels
    task = labels.kind
    # A family whose network is a whole task model (its own head and loss) builds its own.
    own = task.module(cfg, datamodule)
    if own is not None:
        return own
    # How the network ends is the task's: pooled to one vector, or one vector per token.
    configured = cfg.model.get("pooling")
    pooling = task.pooling(configured)
    backbone = instantiate(cfg.model, **({} if pooling == configured else {"pooling": pooling}))
    # Seed again: loading may or may not draw random numbers (a cached copy draws none), and
    # the head's initial weights must not depend on which.
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    head = instantiate(cfg.head, in_features=backbone.hidden_size, out_features=labels.num_outputs)
    loss = instantiate(cfg.loss, **loss_weights(cfg, datamodule))
    regularizer = instantiate(cfg.regularizer) if cfg.regularizer.get("_target_") else None
    scale = None
    if labels.target_std is not None:
        scale = (labels.target_mean, labels.target_std)
    return SFTModule(
        backbone,
        head,
        loss,
        task,
        labels.names,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler),
        regularizer=regularizer,
        finetune=instantiate(cfg.finetune),
        threshold=labels.threshold,
        target_scale=scale,
    )


def loss_weights(cfg: DictConfig, datamodule) -> dict:
    """class_weights ('balanced' from the train split's counts) and pos_weight, checked
    against the labels the data has."""
    names = datamodule.labels.names
    kwargs = {}
    weights = cfg.loss.get("class_weights")
    if weights is not None:
        if weights == "balanced":
            weights = balanced_class_weights(datamodule.class_counts())
        elif len(weights) != len(names):
            raise SFTConfigError(
                f"loss.class_weights has {len(weights)} values but the data has "
                f"{len(names)} labels ({', '.join(names)})"
            )
        kwargs["class_weights"] = list(weights)
    pos_weight = cfg.loss.get("pos_weight")
    if OmegaConf.is_list(pos_weight):
        wanted = datamodule.labels.kind.pos_weight_count(len(names))
        if len(pos_weight) != wanted:
            raise SFTConfigError(
                f"loss.pos_weight has {len(pos_weight)} values; task "
                f"'{datamodule.labels.task}' needs {wanted} (or one number)"
            )
    return kwargs


def build_trainer(cfg: DictConfig, logger, run_dir: Path, extra_callbacks=()) -> pl.Trainer:
    """The Lightning Trainer with the configured callbacks (then the fine-tuning strategy's)
    and the tracker's logger."""
    accepted = set(inspect.signature(pl.Trainer.__init__).parameters)
    for key in cfg.trainer:
        if key != "_target_" and key not in accepted:
            raise SFTConfigError(
                f"unknown config key 'trainer.{key}' (not a pytorch_lightning.Trainer argument)"
            )
    # resume_checkpoint comes in `extra_callbacks`: the run holds on to it (signals, resume hint).
    callbacks = [
        instantiate(c)
        for k, c in cfg.callbacks.items()
        if c is not None and k != "resume_checkpoint"
    ]
    callbacks += list(extra_callbacks)
    check_accelerator(cfg.trainer)
    resolve_precision(cfg.trainer)  # `auto` is sft's, not Lightning's (train() resolved it already)
    summary = {}
    if cfg.trainer.get("enable_model_summary", True) and not any(
        isinstance(c, pl.callbacks.ModelSummary) for c in callbacks
    ):
        # sft's summary (no FLOPs column of zeros) instead of the one Lightning would add.
        callbacks.append(ModelSummary(max_depth=1))
        summary = {"enable_model_summary": False}
    drop_lightning_tips()
    return instantiate(
        cfg.trainer, callbacks=callbacks, logger=logger, default_root_dir=str(run_dir), **summary
    )


def set_monitor(cfg: DictConfig, task) -> None:
    """Settle `monitor.metric` / `monitor.mode` when they are `auto` (the Task's `monitor`)."""
    if cfg.monitor.metric == "auto":
        cfg.monitor.metric = task.monitor[0]
    if cfg.monitor.mode == "auto":
        cfg.monitor.mode = monitor_mode(cfg.monitor.metric)
