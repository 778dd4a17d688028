"""One run's record, kept by one object: `RunRecorder` writes what a run leaves in its tracker
(sft.tracking.protocol) and its run folder, around the fit and test of sft.training.run.

At the start of a new run: the config beside its checkpoints (what `resume` continues), the
config and overrides as artifacts, the flattened config as params; once the data is ready:
its fingerprints, the task and data tags, the data report. After the test, once: temperature
and tuned decisions (sft.training.calibrate), the test reports, the model folder, its card,
the logged and registered model, the run's note, timings and the summary. A child run of a CV
or seed-repeat parent (`ChildRun`, sft.training.cv) is nested under the parent's run, never
registers, and hands the parent its outcome (sft.training.fold_outcome).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft import cache
from sft.config.data_schemas import experiment_of
from sft.config.schema import GROUPS, cfg_choice
from sft.model.saving import save_model
from sft.tasks.base import PICTURES_DIR, TABLES_DIR
from sft.tracking.masking import mask_overrides
from sft.tracking.provenance import flatten, git_state, label_tags, package_versions
from sft.tracking.sweep import job_run_identity
from sft.training.calibrate import post_hoc
from sft.training.data_report import write_data_report
from sft.training.dataset_inputs import split_datasets
from sft.training.explain_samples import EXPLANATIONS_DIR, explain_test_samples
from sft.training.fingerprints import run_fingerprints, save_fingerprints
from sft.training.fold_outcome import fold_outcome
from sft.training.model_card import write_model_card
from sft.training.resume import Resume, run_again_hint, save_run_config
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


@dataclass
class ChildRun:
    """A CV fold's or a seed's run under its parent run (sft.training.cv): its name (`fold-0`,
    `seed-1/fold-0`) and the parent run's id (None: the tracker keeps no runs to nest)."""

    name: str
    parent_run_id: str | None = None

    def tags(self) -> dict[str, str]:
        """The tags that nest the run under its parent (none without a parent run)."""
        if self.parent_run_id is None:
            return {}
        return {"mlflow.parentRunId": self.parent_run_id, "sft.child": self.name}


class RunRecorder:
    """Records one run (rank zero's) in `tracker`, each thing once; see the module's doc.

    `resume`: the stopped run it continues (its config, fingerprints and data report are
    recorded already); `child`: the run is a child of a CV or seed-repeat parent;
    `started`: `time.perf_counter()` at the run's start (the `time/` metrics count from it).
    """

    def __init__(
        self,
        cfg: DictConfig,
        tracker,
        resume: Resume | None = None,
        child: ChildRun | None = None,
        started: float | None = None,
    ):
        self.cfg, self.tracker, self.resume, self.child = cfg, tracker, resume, child
        self.run_dir = Path(cfg.paths.run_dir)
        self.started = time.perf_counter() if started is None else started
        self.cache_before = Counter(cache.STATS)
        self.job_tags: dict[str, str] = {}

    @contextlib.contextmanager
    def run(self, guard):
        """The tracker's run, open for the block (FAILED or KILLED when the block raises): a
        new run (a sweep job's or a child's, nested), or the resumed one. `guard` (the
        ResumableCheckpoint) learns where the run is, for its resume hint."""
        cfg, resume = self.cfg, self.resume
        if resume is None:
            name, self.job_tags = (
                (self.child.name, self.child.tags()) if self.child else job_run_identity()
            )
            tags = {**run_tags(cfg), **self.job_tags}
        else:
            name, tags = None, {"sft.resumed_from": str(resume.checkpoint)}
        with self.tracker.run(
            default_experiment=experiment_of(cfg.data),
            tags=tags,
            resume=resume.run_id if resume else None,
            default_name=name or default_run_name(cfg),
        ):
            guard.run_id = self.tracker.run_id
            if self.child is not None:  # run again with its parent, never resumed alone
                guard.rerun = run_again_hint(str(Path(cfg.paths.run_dir).resolve().parent))
            guard.where = {
                "logger.tracking_uri": self.tracker.tracking_uri,
                "paths.outputs": str(cfg.paths.outputs),
            }  # absolute: absolute_paths
            yield self.tracker

    def start(self) -> None:
        """A new run's config: beside its checkpoints (what `resume` continues with), as
        config.yaml and overrides.yaml artifacts, and flattened as params."""
        if self.resume is not None:  # recorded already (and this process's choices may differ)
            return
        save_run_config(self.cfg, self.run_dir / "checkpoints")
        for path in write_config(self.cfg, self.run_dir):
            self.tracker.log_artifact(path)
        # The choice of each group ('finetune': 'lora') too: sweeps over groups compare by it.
        self.tracker.log_params(
            {**flatten(self.cfg), **{g: cfg_choice(self.cfg, g) for g in GROUPS}}
        )

    def data(self, datamodule) -> None:
        """The data, read and encoded: a new run's input fingerprints (what `resume`
        compares) and data report (counts, lengths, duplicates, leakage between splits); the
        task, label, monitor and data-hash tags. A model it would register under a name that
        holds another problem is refused here, before it trains (SFTConfigError)."""
        cfg, task, labels = self.cfg, datamodule.labels.task, list(datamodule.labels.names or [])
        if self.resume is None:
            save_fingerprints(run_fingerprints(cfg, datamodule), self.run_dir / "checkpoints")
        self.tracker.set_tags(
            {
                "sft.task": task,
                **label_tags(labels),
                "sft.monitor": cfg.monitor.metric,
                "sft.monitor_mode": cfg.monitor.mode,
                **{f"sft.data.{k}_sha256": v for k, v in datamodule.data_fingerprint().items()},
            }
        )
        if self.resume is None:  # the resumed run has them: its data is checked unchanged
            self.tracker.log_datasets(split_datasets(cfg, datamodule))
        if self.resume is None and self.child is None:  # before it trains, not after
            plan = registration(cfg, task, "mlflow.parentRunId" in self.job_tags)
            if plan.now or plan.later:
                self.tracker.check_registrable(plan.now or plan.later, task, labels)
        if self.resume is None:
            for path in write_data_report(datamodule, cfg.model.max_length, self.run_dir):
                self.tracker.log_artifact(path)

    def after_test(self, result) -> None:
        """Right after the test, in Lightning's context still: a child's outcome for its
        parent (the best checkpoint validated once more; sft.training.fold_outcome)."""
        if self.child is not None:
            with result.phases("fold_outcome"):
                result.outcome = fold_outcome(
                    result.trainer,
                    result.module,
                    result.datamodule,
                    result.test_metrics,
                    result.evaluated,
                )

    def finish(self, result) -> None:
        """Everything after the test (sft.training.run.RunResult), once; see the module's doc."""
        cfg, tracker, run_dir = self.cfg, self.tracker, self.run_dir
        module, datamodule, best_score = result.module, result.datamodule, result.best_score
        test_metrics = result.test_metrics
        if not datamodule.has_split("test"):
            print("No test split (set data.test_path or data.test_fraction): skipping the test.")
        phase = result.phases  # `time/<phase>_s` per step below (throughput.Phases)
        # Temperature and tuned decisions, fitted on val: saved in the model, so every predict
        # path uses them. On the logits the validation and test passes kept: no pass of its own.
        with phase("post_hoc"):
            decided, decision_spec, decision_files = post_hoc(
                cfg, module, datamodule, run_dir, result.evaluated
            )
        if result.outcome is not None:  # a fold ensemble calibrates each member's logits by its own
            result.outcome["decision_spec"] = decision_spec
            # the parent's mean +- std covers every val and test metric, these included
            result.outcome["post_hoc"] = dict(decided)
        tracker.log_metrics(decided)
        test_metrics.update({k: v for k, v in decided.items() if k.startswith("test/")})
        with phase("reports"):
            for path in [*decision_files, *write_reports(module, test_metrics, run_dir)]:
                tracker.log_artifact(path)
            # Predictions drawn beside the ground truth (detection, segmentation): pictures/
            tracker.log_artifact(run_dir / PICTURES_DIR, PICTURES_DIR)
            # The worst test examples as MLflow tables (speech: reference, hypothesis, CER)
            tracker.log_tables(run_dir / TABLES_DIR, TABLES_DIR)
        with phase("save_model"):
            model_dir = save_model(
                module,
                datamodule.tokenizer,
                OmegaConf.to_container(cfg.head, resolve=True),
                cfg.model.max_length,
                run_dir / "model",
                clean_text=bool(cfg.data.get("clean_text", False)),
                extra={**datamodule.spec_fields(), **decision_spec},
            )
        # explain.samples: test examples explained with the saved model, logged beside it (not
        # in a CV fold's or a seed's child run: K times the cost for models nobody ships)
        with phase("explain"):
            explained = (
                [] if self.child else explain_test_samples(cfg, model_dir, datamodule, run_dir)
            )
            for path in explained:
                tracker.log_artifact(path, EXPLANATIONS_DIR)
        overrides = hydra_overrides()
        with phase("model_card"):
            card = write_model_card(
                model_dir,
                cfg,
                datamodule,
                module,
                test_metrics,
                best_score,
                tracker.run_id,
                mask_overrides(overrides) if overrides else None,
                registered_model_name(cfg, datamodule.labels.task),
            )
            tracker.log_artifact(card)  # also inside the logged model, with the folder
        with phase("log_model"):
            model_uri = tracker.log_model(model_dir, example_texts(datamodule))
        ended = time.perf_counter()
        if best_score is not None:
            tracker.log_metrics({f"best/{cfg.monitor.metric}": best_score})
        plan = registration(cfg, datamodule.labels.task, "mlflow.parentRunId" in self.job_tags)
        # after the metrics: the registered version is tagged with them; a CV/seed child never
        # registers (its parent's model is the one), so it says nothing about it either
        if model_uri and self.child is None:
            model_uri = register(tracker, plan, model_uri)
        tracker.set_tags(
            {
                "mlflow.note.content": run_note(
                    cfg, datamodule.labels.task, best_score, test_metrics, model_uri, plan.note
                )
            }
        )
        # What a job costs beyond its own fit (start-up, test, artifacts): sweeps want it small.
        # `time/after_fit_s` is the sum of the phases after it (test, fold_outcome, post_hoc,
        # reports, save_model, explain, model_card, log_model) and the bookkeeping between.
        tracker.log_metrics(
            {
                "time/setup_s": result.fit_started - self.started,
                "time/fit_s": result.fit_ended - result.fit_started,
                **phase.seconds,
                "time/after_fit_s": ended - result.fit_ended,
                "time/total_s": ended - self.started,
            }
        )
        tracker.set_tags(
            {
                "sft.model_dir": str(model_dir.absolute()),
                **{
                    f"sft.cache.{k}": str(v)
                    for k, v in sorted((cache.STATS - self.cache_before).items())
                },
            }
        )
        print_summary(
            cfg,
            tracker,
            test_metrics,
            best_score,
            run_dir,
            model_uri,
            serve_hint=self.child is None,
        )
        if result.outcome is not None:
            # `datasets`: what the parent logs as its data, the whole files (sft.training.cv)
            result.outcome.update(
                run_id=tracker.run_id, model_dir=str(model_dir.resolve()), best=best_score,
                datasets=split_datasets(cfg, datamodule, whole_files=True),
            )  # fmt: skip


def register(tracker, plan: Registration, model_uri: str) -> str:
    """Register the logged model as `plan` (run_outputs.registration) says; return the
    model's URI (`models:/<name>/<version>` once registered)."""
    if plan.now:
        return tracker.register_model(plan.now) or model_uri
    if plan.later:
        tracker.set_tags({"sft.register_as": plan.later})  # read by the sweep's end
    log.info("Model not registered: %s", plan.note)
    return model_uri


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that say how to rerun: seed, git commit and dirty flag, versions, overrides."""
    git = git_state()
    tags = {
        "seed": str(cfg.seed),
        "mlflow.source.git.commit": git["commit"],
        "sft.git_commit": git["commit"],
        "sft.git_dirty": git["dirty"],
        "sft.run_dir": str(Path(cfg.paths.run_dir).resolve()),
        # what the registry and the model card call the data (data=hf_dataset's data.name is
        # the dataset's configuration, often null)
        "sft.data": experiment_of(cfg.data),
    }
    tags.update({f"sft.version.{k}": v for k, v in package_versions().items()})
    overrides = hydra_overrides()
    if overrides is not None:
        tags["sft.overrides"] = " ".join(mask_overrides(overrides)) or "(none)"
    return tags
