"""Cross-validation (`cv.folds=K`) and seed repeats (`seeds=[...]`): one MLflow parent run,
a child run per fold (or seed, or seed x fold), each a whole `sft.training.run.train` run.

The parent holds the mean and std of the children's val/test metrics (sft.tracking.aggregate),
for folds the out-of-fold predictions and metrics, and with `cv.ensemble=true` one model
averaging the children's probabilities (sft.inference.ensemble), tested and registered like
any model. The value returned to a sweeper is the children's mean best monitored value, so
`sft-train -m optimizer.lr=5e-5,1e-4 cv.folds=5` chooses on CV (runs nest sweep -> job -> fold).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from sft.config.data_schemas import experiment_of
from sft.config.instantiate import instantiate
from sft.config.schema import GROUPS, cfg_choice
from sft.tracking.aggregate import summarize_children
from sft.tracking.provenance import flatten, label_tags
from sft.tracking.sweep import job_run_identity
from sft.training.build import expected_task, set_monitor
from sft.training.ensemble_run import ensemble_model
from sft.training.preflight import absolute_paths, check_unused_run_dir
from sft.training.recording import ChildRun, run_tags
from sft.training.repeat_summary import parent_note, print_repeat_summary, repeat_kind
from sft.training.run import load_data, train
from sft.training.run_outputs import default_run_name, registration, write_config

log = logging.getLogger(__name__)


def repeats(cfg: DictConfig) -> bool:
    """Whether `cfg` asks for a parent run of several children (folds or seeds)."""
    cv = cfg.get("cv") or {}
    return (cv.get("folds") is not None and cv.get("fold") is None) or bool(cfg.get("seeds"))


def child_configs(cfg: DictConfig) -> list[tuple[str, DictConfig]]:
    """(name, config) of each child: `fold-0`.. with cv.fold set and the held-out fold as
    validation (data.val_fraction=0: no carved split), `seed-1`.. with that seed, or
    `seed-1/fold-0`.. for both; each writes under <run_dir>/<name>."""
    seeds = list(cfg.seeds) if cfg.get("seeds") else [None]
    folds = cfg.cv.folds if cfg.get("cv") is not None and cfg.cv.get("folds") else None
    children = []
    for seed in seeds:
        for fold in range(folds) if folds else [None]:
            parts = ([f"seed-{seed}"] if seed is not None else []) + (
                [f"fold-{fold}"] if fold is not None else []
            )
            name = "/".join(parts)
            child = copy.deepcopy(cfg)
            with open_dict(child):
                child.seeds = None
                if seed is not None:
                    child.seed = seed
                if fold is not None:
                    child.cv.fold = fold
                    child.data.val_fraction = 0.0
                child.cv.ensemble = False
                child.paths.run_dir = str(Path(cfg.paths.run_dir) / name.replace("/", "-"))
                _repoint(child.callbacks, str(cfg.paths.run_dir), child.paths.run_dir)
                if child.logger.get("registered_model_name") is not None:
                    child.logger.registered_model_name = None  # the parent's model is the one
            children.append((name, child))
    return children


def _repoint(node: DictConfig, parent_dir: str, child_dir: str) -> None:
    """Point literal paths under the parent's run folder (a logged, resolved config that
    sft-reproduce reruns: `<run dir>/checkpoints`) at the child's; `${paths.run_dir}`
    interpolations follow the child's run_dir by themselves."""
    for key in list(node.keys()):
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            _repoint(value, parent_dir, child_dir)
        elif isinstance(value, str) and (value == parent_dir or value.startswith(parent_dir + "/")):
            node[key] = child_dir + value[len(parent_dir) :]


def train_repeats(cfg: DictConfig) -> float | None:
    """Run every child of `cfg` under one parent run and summarize them there; return the
    mean of the children's best monitored values (None when a child has none)."""
    tracker = instantiate(cfg.logger)
    records = tracker.records
    job_name, job_tags = job_run_identity()
    run_dir = Path(cfg.paths.run_dir)
    check_unused_run_dir(run_dir)  # its children's folders and its own outputs go there
    absolute_paths(cfg)  # the logged config.yaml then reruns from any folder (sft-reproduce)
    set_monitor(cfg, expected_task(cfg))  # settled before config.yaml is logged, as a run's
    children = child_configs(cfg)
    kind = "cv" if cfg.cv.get("folds") else "seeds"
    if kind == "cv":  # the folds' data errors (a label rarer than the folds, no group column)
        load_data(children[0][1])  # before any run is opened: read once, checked, let go
    with tracker.run(
        default_experiment=experiment_of(cfg.data),
        tags={
            **run_tags(cfg),
            **job_tags,
            "sft.repeat": kind,
            "sft.children": ",".join(n for n, _ in children),
        },
        # `cv5-…`, `seeds3-…`, `cv5-ensemble-…`: what kind of run it is, by its name (a
        # sweep's job keeps its swept values, `lr=3e-05`: the sweep says what its jobs are)
        default_name=job_name or f"{repeat_kind(cfg)}-{default_run_name(cfg)}",
    ):
        tracker.log_params({**flatten(cfg), **{g: cfg_choice(cfg, g) for g in GROUPS}})
        run_dir.mkdir(parents=True, exist_ok=True)
        for path in write_config(cfg, run_dir):  # what `sft-reproduce run_id=<parent>` reruns
            tracker.log_artifact(path)
        outcomes = []
        for name, child in children:
            print(f"== {kind}: child run {name} ({len(outcomes) + 1} of {len(children)})")
            # only its outcome is kept: each child's model is let go before the next trains
            outcome = train(child, child=ChildRun(name, tracker.run_id if records else None))
            outcomes.append(shared_test(outcome.outcome, outcomes, kind))
        names = [n for n, _ in children]
        monitor = OmegaConf.select(children[0][1], "monitor.metric")
        # settled before the children ran (`auto` -> val/f1_macro): what leaderboards rank by
        tracker.set_tags(
            {
                "sft.monitor": monitor,
                "sft.monitor_mode": str(children[0][1].monitor.mode),
                # what its registered model (the fold ensemble) is: registry tags, checks
                "sft.task": outcomes[0]["task"],
                **label_tags(outcomes[0]["label_names"]),
            }
        )
        # the data the children share: the whole files (a fold's part is its child's)
        tracker.log_datasets(outcomes[0].get("datasets") or [])
        summary = summarize_children(
            tracker, outcomes, names, run_dir, with_oof=kind == "cv", monitor=monitor
        )
        model_uri = None
        if cfg.cv.get("ensemble"):
            plan = registration(cfg, outcomes[0]["task"], "mlflow.parentRunId" in job_tags)
            metrics, model_uri = ensemble_model(
                cfg, tracker, outcomes, names, run_dir, plan, folds=kind == "cv"
            )
            summary.update(metrics)
        note = parent_note(cfg, kind, summary, monitor, names, model_uri)
        tracker.set_tags({"mlflow.note.content": note})
        print_repeat_summary(kind, summary, monitor, run_dir, tracker, model_uri)
    return summary.get(f"best/{monitor}")


def shared_test(outcome: dict, earlier: list[dict], kind: str) -> dict:
    """A fold's `outcome` holding the first fold's test texts and targets instead of its own
    copy: every fold reads the same test split (the folds cut the train split only), so the
    parent keeps it once, not once per fold. Seed repeats may carve another test split."""
    if kind == "cv" and earlier:
        outcome["test_texts"] = earlier[0]["test_texts"]
        outcome["test_targets"] = earlier[0]["test_targets"]
    return outcome
