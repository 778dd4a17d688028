"""Sweeps in MLflow: one parent run per Hydra multirun, every job a child run nested under it.

`MLflowSweep` is a Hydra callback (registered in conf/train.yaml). At the start of a
multirun it opens the parent run, named after the sweep and holding the sweep's overrides as
params, and hands its id to the jobs through the environment (inherited by joblib and
submitit workers). Each job's tracker then opens a child run named by its swept values
(`lr=3e-05,bs=16,ep=2`). At the end the parent gets the leaderboard, the best child and a
plot of the optimized metric against each swept parameter.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sft.config.data_schemas import experiment_of
from sft.config.instantiate import instantiate

log = logging.getLogger(__name__)

ENV_SWEEP = "SFT_SWEEP"  # JSON: parent run id, the tracker's handle, swept keys
SHORT_NAMES = {
    "optimizer.lr": "lr",
    "data.batch_size": "bs",
    "trainer.max_epochs": "ep",
    "optimizer.weight_decay": "wd",
    "seed": "seed",
}


def swept_keys(config: DictConfig) -> list[str]:
    """Keys whose values vary across the sweep's jobs: sweep overrides and sweeper params."""
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    # `+group=...` adds a group: the key is the group (a `+` is no MLflow param name).
    keys = [str(k).lstrip("+~") for k in params]
    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    keys += [
        o.key_or_group for o in overrides if o.is_sweep_override() and o.key_or_group not in keys
    ]
    return keys


def sweep_overrides(config: DictConfig) -> dict[str, str]:
    """The sweep's own overrides (`optimizer.lr` -> `1e-5,3e-5,1e-4`), for the parent's params."""
    found = {}
    for line in config.hydra.overrides.task:
        key, _, value = str(line).partition("=")
        found[key.lstrip("+~")] = value
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    found.update({str(k).lstrip("+~"): str(v) for k, v in params.items()})
    return found


def child_run_name(job_overrides: list[str], keys: list[str]) -> str:
    """`lr=3e-05,bs=16,ep=2`: the job's values of the swept keys, in sweep order."""
    values = {}
    for line in job_overrides:
        key, _, value = str(line).partition("=")
        values[key.lstrip("+~")] = value
    parts = [
        f"{SHORT_NAMES.get(k, k.rsplit('.', 1)[-1])}={_short(values[k])}"
        for k in keys
        if k in values
    ]
    return ",".join(parts) or "job"


def _short(value: str) -> str:
    """Numbers to 4 significant digits (1e-5 -> 1e-05, an Optuna draw 1.7000372989211023e-05 ->
    1.7e-05), integers as given (16, 123456), other values as given."""
    try:
        number = float(value)
    except ValueError:
        return value
    if number.is_integer() and "." not in value and "e" not in value.lower():
        return str(int(number))
    return f"{number:.4g}"


def active_sweep() -> dict[str, Any] | None:
    """The open sweep this process's jobs belong to, if any (set by the callback)."""
    raw = os.environ.get(ENV_SWEEP)
    if not raw or not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return json.loads(raw)


def job_run_identity() -> tuple[str | None, dict[str, str]]:
    """(run name, tags) that nest the current job's run under its sweep's parent run."""
    sweep = active_sweep()
    if sweep is None:
        return None, {}
    hydra_cfg = HydraConfig.get()
    name = child_run_name(list(hydra_cfg.overrides.task), sweep["swept"])
    return name, {
        "mlflow.parentRunId": sweep["parent_run_id"],
        "sft.sweep_job": str(hydra_cfg.job.num),
    }


class MLflowSweep(Callback):
    """Hydra callback: the parent MLflow run of a multirun, and its summary at the end."""

    def __init__(self) -> None:
        self.tracker = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The configured tracker (sft.tracking.protocol) keeps the parent run.
        tracker = instantiate(config.logger) if config.get("logger") is not None else None
        if not getattr(tracker, "records", False):
            return  # logger=none: nothing to nest
        keys = swept_keys(config)
        name = sweep_name(config)
        self.tracker = tracker
        tracker.open(
            default_experiment=experiment_of(config.data),
            tags={
                "sft.sweep": "true",
                "sft.swept_keys": ",".join(keys),
                "sft.sweep_dir": str(Path(config.hydra.sweep.dir).resolve()),
            },
            name=name,
        )
        tracker.log_params(sweep_overrides(config))
        os.environ[ENV_SWEEP] = json.dumps(
            {"parent_run_id": tracker.run_id, "tracker": tracker.handle(), "swept": keys}
        )
        log.info("Sweep '%s': MLflow parent run %s", name, tracker.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_sweep("FINISHED", Path(config.hydra.sweep.dir))


def sweep_name(config: DictConfig) -> str:
    """The experiment's name when one was chosen, else `sweep-<time the sweep started>`."""
    choice = OmegaConf.select(config, "hydra.runtime.choices.experiment", default=None)
    if choice:
        return str(choice)
    return f"sweep-{Path(config.hydra.sweep.dir).name}"


def close_sweep(status: str, sweep_dir: Path | None = None) -> None:
    """Summarise the open sweep (leaderboard, best child, plot) and end its parent run.

    Called at the end of a multirun, and by the CLI when a sweep stops on an error or Ctrl-C,
    so a parent run is never left RUNNING. A no-op when no sweep is open.
    """
    raw = os.environ.pop(ENV_SWEEP, None)
    if not raw:
        return
    sweep = json.loads(raw)
    from sft.tracking.leaderboard import summarize_sweep  # lazy: pandas only when a sweep ends

    tracker = instantiate(sweep["tracker"]).attach(sweep["parent_run_id"])
    try:
        out_dir = sweep_dir or Path(tracker.get_tag("sft.sweep_dir") or ".")
        summary = summarize_sweep(tracker, sweep["swept"], out_dir)
        if summary:
            print(summary)
        if status == "FINISHED":
            register_best_job(tracker)
    finally:
        tracker.close(status)


def register_best_job(parent) -> str | None:
    """Register the sweep's best job's model under the name the job chose (tag
    `sft.register_as`, set under logger.register=auto); return its URI (None: nothing to do)."""
    best_id = parent.get_tag("sft.best_run_id")
    if not best_id:
        return None
    best = parent.attach(best_id)
    name = best.get_tag("sft.register_as")
    if not name:
        return None  # logger.register=always (registered already), never, or a debug sweep
    uri = best.register_model(name)
    parent.set_tags({"sft.model_uri": uri})
    print(f"Registered the best job's model: {uri}")
    return uri
