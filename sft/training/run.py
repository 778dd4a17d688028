"""One training run: build -> fit -> test (`fit_and_test`) -> record (sft.training.recording).

Called with a composed, validated config (by `sft-train`, or by tests through
`hydra.compose`); returns a RunResult whose `best_score` (the monitored metric of the best
checkpoint) goes back to sweepers. With a `Resume` (sft.training.resume) it continues a
stopped run from its last checkpoint, in the same tracked run. A CV or seed-repeat parent
(sft.training.cv) runs it once per child with a `ChildRun`. SIGINT and SIGTERM stop it cleanly
(sft.training.checkpointing). Only rank zero records; every other DDP rank trains along
(`train_along`).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from sft.config.data_schemas import experiment_of
from sft.config.instantiate import instantiate
from sft.config.schema import implied_task
from sft.data.folds import apply_fold
from sft.data.tokenize import evict
from sft.errors import SFTConfigError, first_line
from sft.model.module import SFTModule
from sft.tasks import family_of
from sft.tasks.checks import check_task_fit
from sft.tracking.null import NullTracker
from sft.training.build import (
    build_module,
    build_trainer,
    expected_task,
    load_processor,
    set_monitor,
)
from sft.training.calibrate import wants_logits
from sft.training.checkpointing import ResumableCheckpoint
from sft.training.distributed import (
    check_accelerator,
    check_data_parallel,
    global_rank,
    shared_with_children,
)
from sft.training.fingerprints import run_fingerprints
from sft.training.precision import resolve_precision
from sft.training.preflight import (
    absolute_paths,
    check_model_source,
    check_unused_run_dir,
    check_vocabulary,
    check_writable,
)
from sft.training.quiet import quiet_fit
from sft.training.recording import ChildRun, RunRecorder
from sft.training.resume import RUN_CONFIG, Resume, check_unchanged
from sft.training.throughput import Phases

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What one run produced: the module with its best checkpoint's weights, its data and
    trainer, the best monitored value (None: never monitored), the test metrics (with the
    tuned decisions' once recorded), `time.perf_counter()` at the fit's start and end, a
    child run's outcome for its parent (sft.training.fold_outcome; None for any other run),
    the evaluation passes ("val", "test": sft.model.module.Evaluation) that saw the weights
    `module` holds (what the post-hoc step and the fold outcome reuse instead of running the
    model again), and the seconds `time/*` names per phase after the fit (`phases`)."""

    module: SFTModule
    datamodule: Any
    trainer: pl.Trainer
    best_score: float | None
    test_metrics: dict
    fit_started: float
    fit_ended: float
    outcome: dict | None = None
    evaluated: dict = field(default_factory=dict)
    phases: Phases = field(default_factory=Phases)


def train(
    cfg: DictConfig, resume: Resume | None = None, child: ChildRun | None = None
) -> RunResult:
    """Fine-tune and test as configured, then record the run once (rank zero).

    `resume`: continue that stopped run; `child`: the run is a CV fold or a seed under a
    parent run (sft.training.cv), and its result holds what the parent aggregates."""
    started = time.perf_counter()
    check_run(cfg)
    if global_rank() != 0:
        return train_along(cfg, resume)
    if resume is None:  # a resumed run continues in its own folder
        check_unused_run_dir(Path(cfg.paths.run_dir))
    recorder = RunRecorder(cfg, instantiate(cfg.logger), resume, child, started)
    datamodule = None
    if resume is not None:  # before the run reopens: a refusal leaves it as it was
        datamodule = load_data(cfg)
        check_unchanged(resume, run_fingerprints(cfg, datamodule))
    guard = resume_checkpoint(cfg)
    with guard.handling_signals(), recorder.run(guard) as tracker:
        set_monitor(cfg, expected_task(cfg))
        recorder.start()  # the config, before anything can fail on the data
        datamodule = prepare_data(cfg, datamodule)
        recorder.data(datamodule)
        result = fit_and_test(
            cfg, datamodule, tracker, resume, guard, recorder.after_test, keep=child is not None
        )
        recorder.finish(result)
    drop_checkpoints(result.trainer, guard)  # the run finished: nothing left to resume
    return result


def train_along(cfg: DictConfig, resume: Resume | None = None) -> RunResult:
    """A DDP rank but zero: fit and test along with rank zero, which records the run; this
    rank writes nothing (its tracker is a NullTracker without local metrics)."""
    guard = resume_checkpoint(cfg)
    guard.where = {"logger.tracking_uri": None, "paths.outputs": str(cfg.paths.outputs)}
    with guard.handling_signals():
        set_monitor(cfg, expected_task(cfg))
        return fit_and_test(cfg, prepare_data(cfg), NullTracker(local_metrics=False), resume, guard)


def check_run(cfg: DictConfig) -> None:
    """What every rank settles before it trains: absolute paths, a writable run folder, a
    model that loads offline, the accelerator, the precision, the seeds."""
    absolute_paths(cfg)  # the logged config then reruns from any folder (sft-reproduce)
    check_writable(cfg)
    check_model_source(cfg.model.name_or_path)  # sft-train checked it already; reproduce not
    check_accelerator(cfg.trainer)
    resolve_precision(cfg.trainer)  # before the params are logged: they say which it was
    pl.seed_everything(cfg.seed, workers=True, verbose=False)


def fit_and_test(
    cfg: DictConfig,
    datamodule,
    tracker,
    resume: Resume | None,
    guard: ResumableCheckpoint,
    after_test: Callable[[RunResult], None] | None = None,
    keep: bool = False,
) -> RunResult:
    """Build the module and the trainer, fit (from the resumed run's checkpoint), restore the
    best checkpoint and test it. Records nothing but what the tracker's Lightning logger
    writes per step; `after_test(result)` runs inside Lightning's context still. `keep` (a
    child run), or a post-hoc step that will run: the evaluation passes' raw outputs are
    kept (one process only: under DDP each rank sees its share of the rows)."""
    run_dir = Path(cfg.paths.run_dir)
    module = build_module(cfg, datamodule)
    check_vocabulary(datamodule, module)
    trainer = build_trainer(
        cfg,
        tracker.lightning_logger(run_dir, resumed=resume is not None),
        run_dir,
        [*module.finetune.callbacks(), guard],
    )
    check_data_parallel(trainer, module)
    module.keep_outputs = trainer.world_size == 1 and (keep or wants_logits(cfg, module.task))
    # DDP children that Lightning starts in `fit` train from this run's config
    # (sft.training.distributed).
    children = (
        shared_with_children(
            run_dir / "checkpoints" / RUN_CONFIG, tracker, resume.checkpoint if resume else None
        )
        if global_rank() == 0
        else contextlib.nullcontext()
    )
    with children, quiet_fit(trainer, resumed=resume is not None):
        fit_started = time.perf_counter()
        fit(trainer, module, datamodule, resume)
        fit_ended = time.perf_counter()
        phases = Phases()

        best_score, step = _restore_best(trainer, module, cfg.monitor.metric)
        # the validation pass kept during the fit that saw the restored weights, if any
        passes = (module.evaluations.get("val_best"), module.evaluations.get("val"))
        seen = [e for e in passes if e is not None and e.step == step]
        evaluated = {"val": seen[0]} if seen else {}
        test_metrics = {}
        if datamodule.has_split("test"):
            module.evaluations.pop("test", None)
            with phases("test"):
                trainer.test(module, datamodule=datamodule, verbose=False)
            test_metrics = module.test_report.get("summary", {})
            if "test" in module.evaluations:  # after the restore: the same weights
                evaluated["test"] = module.evaluations["test"]
        result = RunResult(
            module, datamodule, trainer, best_score, test_metrics, fit_started, fit_ended
        )
        result.evaluated, result.phases = evaluated, phases
        if after_test is not None:
            after_test(result)
    return result


def drop_checkpoints(trainer: pl.Trainer, guard: ResumableCheckpoint) -> None:
    """Delete a finished run's checkpoints: `last.ckpt` (weights and optimizer state, ~3x
    the weights) resumes only an unfinished run, and the best checkpoint's weights are in the
    saved model folder. A failed or stopped run never gets here and keeps them."""
    paths = {guard.path}
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            paths.update(
                Path(p)
                for p in (
                    callback.best_model_path,
                    callback.last_model_path,
                    *callback.best_k_models,
                )
                if p
            )
    for path in paths:
        path.unlink(missing_ok=True)


def fit(trainer: pl.Trainer, module: SFTModule, datamodule, resume: Resume | None) -> None:
    """`trainer.fit`, from the resumed run's checkpoint when there is one (read without
    unpickling anything but tensors and plain values)."""
    if resume is None:
        trainer.fit(module, datamodule=datamodule)
        return
    log.info("Resuming run %s from %s", resume.run_id, resume.checkpoint)
    try:
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=str(resume.checkpoint), weights_only=True
        )
    except pickle.UnpicklingError as err:
        raise SFTConfigError(
            f"resume: {resume.checkpoint} is not a checkpoint that loads "
            f"with weights_only=True ({first_line(err)})"
        ) from None


def resume_checkpoint(cfg: DictConfig) -> ResumableCheckpoint:
    """callbacks.resume_checkpoint; with it set to null, one that saves only on a signal."""
    node = cfg.callbacks.get("resume_checkpoint")
    if node is not None:
        return instantiate(node)
    return ResumableCheckpoint(str(Path(cfg.paths.run_dir) / "checkpoints"), every_n_train_steps=0)


def load_data(cfg: DictConfig):
    """The configured DataModule with its files read and validated, and the task and labels
    settled (and checked against the loss)."""
    datamodule = instantiate(cfg.data, seed=cfg.seed)
    labels = datamodule.load(
        family_of(str(cfg.data.get("task", "auto"))),
        loss_task=implied_task(str(cfg.loss.get("_target_"))),
    )
    check_task_fit(cfg, labels.kind, labels.names)
    cv = cfg.get("cv")
    if cv is not None and cv.get("fold") is not None:  # a CV child: its fold is the val split
        datamodule.fold_assignment = apply_fold(
            datamodule,
            cv.folds,
            cv.fold,
            int(cfg.seed),
            cv.get("group_column"),
            bool(cv.get("stratified", True)),
        )
    return datamodule


def prepare_data(cfg: DictConfig, datamodule=None):
    """Read and validate the data (unless `datamodule` was loaded already, by `load_data`) and
    encode it for the configured model (tokenized or featurized, cached)."""
    if datamodule is None:
        datamodule = load_data(cfg)
    labels = datamodule.labels
    log.info(
        "Data %s: %s; task %s%s",
        experiment_of(cfg.data),
        ", ".join(f"{len(e)} {s}" for s, e in datamodule.examples.items()),
        labels.task,
        f", labels {labels.names}" if labels.names else "",
    )
    log.info("Loading %s", cfg.model.name_or_path)
    processor = load_processor(
        cfg.model.name_or_path, datamodule.modality, cfg.model.trust_remote_code
    )
    datamodule.encode(processor, cfg.model.max_length, cfg.paths.cache_dir)
    for path in evict(cfg.paths.cache_dir, cfg.paths.get("cache_max_gb")):
        log.info("Token cache over paths.cache_max_gb: deleted %s (least recently used)", path)
    return datamodule


def _restore_best(trainer: pl.Trainer, module: SFTModule, monitor: str) -> tuple[float | None, int]:
    """Load the best checkpoint's weights into `module`; return its monitored value and the
    global step its weights were saved at.

    Without a checkpoint callback the final weights stay, with their last monitored value
    and the trainer's last step.
    """
    checkpoint = next(
        (c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None
    )
    if checkpoint is None or not checkpoint.best_model_path:
        value = trainer.callback_metrics.get(monitor)
        return (None if value is None else float(value)), int(trainer.global_step)
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(state["state_dict"])
    score = checkpoint.best_model_score
    return (None if score is None else float(score)), int(state.get("global_step", -1))
