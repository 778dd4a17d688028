"""One training run: data -> model -> fit -> test with the best checkpoint -> artifacts.

Called with a composed, validated config (by `sft-train`, or by tests through
`hydra.compose`); returns the monitored metric of the best checkpoint, for sweepers. With a
`Resume` (sft.training.resume) it continues a stopped run from its last checkpoint, in the same
MLflow run. SIGINT and SIGTERM stop it cleanly (sft.training.checkpointing).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import time
from collections import Counter
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from sft import cache
from sft.config.data_schemas import experiment_of
from sft.config.instantiate import instantiate
from sft.config.schema import GROUPS, cfg_choice, check_task_fit, implied_task
from sft.data.folds import apply_fold
from sft.errors import SFTConfigError, first_line
from sft.model.module import SFTModule
from sft.model.saving import save_model
from sft.tracking.masking import mask_overrides
from sft.tracking.null import NullTracker
from sft.tracking.provenance import flatten, git_state, package_versions
from sft.tracking.sweep import job_run_identity
from sft.training.build import (
    build_module,
    build_trainer,
    expected_task,
    load_processor,
    set_monitor,
)
from sft.training.calibrate import post_hoc
from sft.training.checkpointing import ResumableCheckpoint
from sft.training.data_report import write_data_report
from sft.training.distributed import (
    check_accelerator,
    check_data_parallel,
    global_rank,
    shared_with_children,
)
from sft.training.fingerprints import run_fingerprints, save_fingerprints
from sft.training.fold_outcome import fold_outcome
from sft.training.model_card import write_model_card
from sft.training.precision import resolve_precision
from sft.training.preflight import (
    absolute_paths,
    check_model_source,
    check_vocabulary,
    check_writable,
)
from sft.training.quiet import quiet_fit
from sft.training.resume import RUN_CONFIG, Resume, check_unchanged, save_run_config
from sft.training.run_outputs import (
    Registration,
    default_run_name,
    example_texts,
    hydra_overrides,
    print_summary,
    registered_model_name,
    registration,
    run_note,
    write_config,
    write_reports,
)

log = logging.getLogger(__name__)

def train(cfg: DictConfig, resume: Resume | None = None, record: bool = True,
          identity: tuple[str, dict] | None = None, outcome: dict | None = None) -> float | None:
    """Fine-tune, test and log one run as configured; return the best monitored value.

    `record=False` (and any DDP rank but zero): train and test along, record nothing.
    `identity`: (run name, tags) of a child run (a CV fold under its parent run) instead of
    the sweep job's. `outcome`: filled with what a CV parent aggregates (sft.training.cv)."""
    started = time.perf_counter()
    cache_before = Counter(cache.STATS)
    run_dir = Path(cfg.paths.run_dir)
    record = record and global_rank() == 0
    absolute_paths(cfg)  # the logged config then reruns from any folder (sft-reproduce)
    check_writable(cfg)
    check_model_source(cfg.model.name_or_path)  # sft-train checked it already; reproduce not
    check_accelerator(cfg.trainer)
    resolve_precision(cfg.trainer)  # before the params are logged: they say which it was
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = None
    if resume is not None and record:  # before the run reopens: a refusal leaves it as it was
        datamodule = load_data(cfg)
        check_unchanged(resume, run_fingerprints(cfg, datamodule))
    tracker = instantiate(cfg.logger) if record else NullTracker(local_metrics=False)
    guard = resume_checkpoint(cfg)
    job_name, job_tags = (identity or job_run_identity()) if record and resume is None \
        else (None, {})
    tags = {"sft.resumed_from": str(resume.checkpoint)} if resume else \
        {**run_tags(cfg), **job_tags} if record else {}
    with (
        guard.handling_signals(),
        tracker.run(
            default_experiment=experiment_of(cfg.data),
            tags=tags,
            resume=resume.run_id if resume else None,
            default_name=job_name or default_run_name(cfg),
        ),
    ):
        guard.run_id = tracker.run_id
        guard.where = {"logger.tracking_uri": getattr(tracker, "tracking_uri", None),
                       "paths.outputs": str(cfg.paths.outputs)}  # absolute: absolute_paths
        datamodule = prepare_data(cfg, tracker, resumed=resume is not None or not record,
                                  datamodule=datamodule)
        module = build_module(cfg, datamodule)
        check_vocabulary(datamodule, module)
        trainer = build_trainer(cfg, tracker.lightning_logger(run_dir, resumed=resume is not None),
                                run_dir, [*module.finetune.callbacks(), guard])
        check_data_parallel(trainer, module)
        # DDP children that Lightning starts in `fit` train from this run's config
        # (sft.training.distributed).
        children = shared_with_children(run_dir / "checkpoints" / RUN_CONFIG, tracker,
                                        resume.checkpoint if resume else None) \
            if record else contextlib.nullcontext()
        with children, quiet_fit(trainer, resumed=resume is not None):
            fit_started = time.perf_counter()
            fit(trainer, module, datamodule, resume)
            fit_ended = time.perf_counter()

            best_score = _restore_best(trainer, module, cfg.monitor.metric)
            test_metrics = {}
            if datamodule.has_split("test"):
                trainer.test(module, datamodule=datamodule, verbose=False)
                test_metrics = module.test_report.get("summary", {})
            if outcome is not None:
                outcome.update(fold_outcome(trainer, module, datamodule, test_metrics))
            if not datamodule.has_split("test") and record:
                print("No test split (set data.test_path or data.test_fraction): skipping the "
                      "test.")
        if not record:
            return best_score  # rank zero writes the reports, the model and the run
        # Temperature and tuned decisions, fitted on val: saved in the model, so every predict
        # path uses them.
        decided, decision_spec, decision_files = post_hoc(cfg, module, datamodule, run_dir)
        if outcome is not None:  # a fold ensemble calibrates each member's logits by its own
            outcome["decision_spec"] = decision_spec
        tracker.log_metrics(decided)
        test_metrics.update({k: v for k, v in decided.items() if k.startswith("test/")})
        for path in [*decision_files, *write_reports(module, test_metrics, run_dir)]:
            tracker.log_artifact(path)
        model_dir = save_model(module, datamodule.tokenizer,
                               OmegaConf.to_container(cfg.head, resolve=True),
                               cfg.model.max_length, run_dir / "model",
                               clean_text=bool(cfg.data.get("clean_text", False)),
                               extra={**datamodule.spec_fields(), **decision_spec})
        overrides = hydra_overrides()
        card = write_model_card(model_dir, cfg, datamodule, module, test_metrics, best_score,
                                tracker.run_id, mask_overrides(overrides) if overrides else None,
                                registered_model_name(cfg, datamodule.labels.task))
        tracker.log_artifact(card)  # also inside the logged model, with the folder
        logged = time.perf_counter()
        model_uri = tracker.log_model(model_dir, example_texts(datamodule))
        ended = time.perf_counter()
        if best_score is not None:
            tracker.log_metrics({f"best/{cfg.monitor.metric}": best_score})
        plan = registration(cfg, datamodule.labels.task, "mlflow.parentRunId" in job_tags)
        # after the metrics: the registered version is tagged with them; a CV/seed child never
        # registers (its parent's model is the one), so it says nothing about it either
        if model_uri and outcome is None:
            model_uri = register(tracker, plan, model_uri)
        tracker.set_tags({"mlflow.note.content": run_note(
            cfg, datamodule.labels.task, best_score, test_metrics, model_uri, plan.note)})
        # What a job costs beyond its own fit (start-up, test, artifacts): sweeps want it small.
        tracker.log_metrics(
            {
                "time/setup_s": fit_started - started,
                "time/fit_s": fit_ended - fit_started,
                "time/after_fit_s": ended - fit_ended,
                "time/log_model_s": ended - logged,
                "time/total_s": ended - started,
            }
        )
        tracker.set_tags({"sft.model_dir": str(model_dir.absolute()),
                          **{f"sft.cache.{k}": str(v)
                             for k, v in sorted((cache.STATS - cache_before).items())}})
        print_summary(cfg, tracker, test_metrics, best_score, run_dir, model_uri,
                      serve_hint=outcome is None)
        if outcome is not None:
            outcome.update(run_id=tracker.run_id, model_dir=str(model_dir.resolve()),
                           best=best_score)
    drop_checkpoints(trainer, guard)  # the run finished: nothing left to resume
    return best_score


def register(tracker, plan: Registration, model_uri: str) -> str:
    """Register the logged model as `plan` (run_outputs.registration) says; return the
    model's URI (`models:/<name>/<version>` once registered)."""
    if plan.now:
        return tracker.register_model(plan.now) or model_uri
    if plan.later:
        tracker.set_tags({"sft.register_as": plan.later})  # read by the sweep's end
    log.info("Model not registered: %s", plan.note)
    return model_uri


def drop_checkpoints(trainer: pl.Trainer, guard: ResumableCheckpoint) -> None:
    """Delete a finished run's checkpoints: `last.ckpt` (weights and optimizer state, ~3x
    the weights) resumes only an unfinished run, and the best checkpoint's weights are in the
    saved model folder. A failed or stopped run never gets here and keeps them."""
    paths = {guard.path}
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            paths.update(Path(p) for p in (callback.best_model_path, callback.last_model_path,
                                           *callback.best_k_models) if p)
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
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume.checkpoint),
                    weights_only=True)
    except pickle.UnpicklingError as err:
        raise SFTConfigError(f"resume: {resume.checkpoint} is not a checkpoint that loads "
                             f"with weights_only=True ({first_line(err)})") from None


def resume_checkpoint(cfg: DictConfig) -> ResumableCheckpoint:
    """callbacks.resume_checkpoint; with it set to null, one that saves only on a signal."""
    node = cfg.callbacks.get("resume_checkpoint")
    if node is not None:
        return instantiate(node)
    return ResumableCheckpoint(str(Path(cfg.paths.run_dir) / "checkpoints"),
                               every_n_train_steps=0)


def load_data(cfg: DictConfig):
    """The configured DataModule with its files read and validated, and the task and labels
    settled (and checked against the loss)."""
    datamodule = instantiate(cfg.data, seed=cfg.seed)
    labels = datamodule.load(loss_task=implied_task(str(cfg.loss.get("_target_"))))
    check_task_fit(cfg, labels.task, labels.names)
    cv = cfg.get("cv")
    if cv is not None and cv.get("fold") is not None:  # a CV child: its fold is the val split
        datamodule.fold_assignment = apply_fold(
            datamodule, cv.folds, cv.fold, int(cfg.seed),
            cv.get("group_column"), bool(cv.get("stratified", True)))
    return datamodule


def prepare_data(cfg: DictConfig, tracker, resumed: bool = False, datamodule=None):
    """Record the config; read, validate and tokenize the data (unless `datamodule` was
    loaded already, by `load_data`); settle the task and the monitored metric; a new run
    records its inputs' fingerprints (what `resume` compares)."""
    set_monitor(cfg, expected_task(cfg))
    if not resumed:  # a resumed run has them already (and this process's choices may differ)
        run_dir = Path(cfg.paths.run_dir)
        save_run_config(cfg, run_dir / "checkpoints")  # what `resume` will continue with
        for path in write_config(cfg, run_dir):
            tracker.log_artifact(path)
        # The choice of each group ('finetune': 'lora') too: sweeps over groups compare by it.
        tracker.log_params({**flatten(cfg), **{g: cfg_choice(cfg, g) for g in GROUPS}})
    if datamodule is None:
        datamodule = load_data(cfg)
    labels = datamodule.labels
    if not resumed:
        save_fingerprints(run_fingerprints(cfg, datamodule),
                          Path(cfg.paths.run_dir) / "checkpoints")
    log.info("Data %s: %s; task %s%s", experiment_of(cfg.data),
             ", ".join(f"{len(e)} {s}" for s, e in datamodule.examples.items()), labels.task,
             f", labels {labels.names}" if labels.names else "")
    tracker.set_tags({"sft.task": labels.task, "sft.monitor": cfg.monitor.metric,
                      "sft.monitor_mode": cfg.monitor.mode,
                      **{f"sft.data.{k}_sha256": v
                         for k, v in datamodule.data_fingerprint().items()}})
    log.info("Loading %s", cfg.model.name_or_path)
    processor = load_processor(cfg.model.name_or_path, datamodule.modality,
                               cfg.model.trust_remote_code)
    datamodule.encode(processor, cfg.model.max_length, cfg.paths.cache_dir)
    if not resumed:  # know the data: counts, lengths, duplicates and leakage between splits
        for path in write_data_report(datamodule, cfg.model.max_length, Path(cfg.paths.run_dir)):
            tracker.log_artifact(path)
    return datamodule


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that say how to rerun: seed, git commit and dirty flag, versions, overrides."""
    git = git_state()
    tags = {"seed": str(cfg.seed), "mlflow.source.git.commit": git["commit"],
            "sft.git_commit": git["commit"], "sft.git_dirty": git["dirty"],
            "sft.run_dir": str(Path(cfg.paths.run_dir).resolve())}
    tags.update({f"sft.version.{k}": v for k, v in package_versions().items()})
    overrides = hydra_overrides()
    if overrides is not None:
        tags["sft.overrides"] = " ".join(mask_overrides(overrides)) or "(none)"
    return tags


def _restore_best(trainer: pl.Trainer, module: SFTModule, monitor: str) -> float | None:
    """Load the best checkpoint's weights into `module`; return its monitored value.

    Without a checkpoint callback the final weights stay, with their last monitored value.
    """
    checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)),
                      None)
    if checkpoint is None or not checkpoint.best_model_path:
        value = trainer.callback_metrics.get(monitor)
        return None if value is None else float(value)
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(state["state_dict"])
    score = checkpoint.best_model_score
    return None if score is None else float(score)
