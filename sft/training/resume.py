"""`sft-train resume=<run id>` or `resume=last`: continue a stopped run in the same MLflow run.

The run's folder (tag `sft.run_dir`) holds what resuming needs: the config the run started
with (`checkpoints/run_config.yaml`, with the real values of masked secrets) and `last.ckpt`
(sft.training.checkpointing). The command line only says where to find the run (`logger.tracking_uri`,
`paths.outputs`); anything else would make the resumed run differ from the one it continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft.errors import SFTConfigError
from sft.tracking.mlflow_tracker import is_mlflow_logger

RUN_CONFIG = "run_config.yaml"
WHERE_KEYS = ("resume", "logger.tracking_uri", "paths.outputs")


@dataclass
class Resume:
    """The run to continue and the checkpoint it continues from."""

    run_id: str
    checkpoint: Path


def save_run_config(cfg: DictConfig, checkpoint_dir: Path) -> None:
    """Keep the run's config beside its checkpoints (local only: it is not masked)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, checkpoint_dir / RUN_CONFIG, resolve=True)


def resume_config(cfg: DictConfig, overrides: list[str] | None) -> tuple[DictConfig, Resume]:
    """The config and checkpoint of the run `cfg.resume` names (an id or `last`)."""
    from sft.config.uris import absolute_tracking_uri
    from sft.tracking.store import open_client

    extra = [o for o in overrides or [] if o.lstrip("+~").split("=")[0] not in WHERE_KEYS]
    if extra:
        raise SFTConfigError(f"resume: the run continues with its own config; drop "
                             f"'{extra[0]}' (only {', '.join(WHERE_KEYS[1:])} may be given)")
    if not is_mlflow_logger(cfg.get("logger")):
        raise SFTConfigError("resume: needs an MLflow run (logger=mlflow)")
    uri = absolute_tracking_uri(cfg.logger.tracking_uri)
    client = open_client(uri)
    run = _find_run(client, str(cfg.resume), uri)
    name = f"run {run.info.run_id} ({run.info.run_name})"
    if run.info.status == "FINISHED":
        raise SFTConfigError(f"resume: {name} has finished; nothing to resume")
    run_dir = run.data.tags.get("sft.run_dir")
    config_path = Path(run_dir or ".") / "checkpoints" / RUN_CONFIG
    if not run_dir or not config_path.is_file():
        raise SFTConfigError(f"resume: {name} has no {config_path} (its run folder was moved "
                             f"or deleted, or sft did not start it)")
    run_cfg = OmegaConf.load(config_path)
    checkpoint = Path(run_cfg.callbacks.resume_checkpoint.dirpath) / "last.ckpt" \
        if run_cfg.callbacks.get("resume_checkpoint") else None
    if checkpoint is None or not checkpoint.is_file():
        raise SFTConfigError(f"resume: {name} saved no checkpoint before it stopped "
                             f"(callbacks.resume_checkpoint saves one every "
                             f"{OmegaConf.select(run_cfg, 'callbacks.resume_checkpoint.every_n_train_steps')} "
                             f"training steps); start it again")
    run_cfg.logger.tracking_uri = uri
    _adopt_choices(run.data.params)
    return run_cfg, Resume(run.info.run_id, checkpoint)


def _adopt_choices(params: dict[str, str]) -> None:
    """Make this process's group choices the run's (logged as params `model`, `loss`, ...):
    names derived from them (the registered model's) must not change on resuming."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    from sft.config.schema import GROUPS

    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    with read_write(choices):
        for group in GROUPS:
            if group in params:
                choices[group] = params[group]


def _find_run(client, wanted: str, uri: str):
    """The run with id `wanted`, or for `last` the latest run sft-train started (no sweep)."""
    from mlflow.exceptions import MlflowException

    if wanted != "last":
        try:
            return client.get_run(wanted)
        except MlflowException:
            raise SFTConfigError(f"resume: no run '{wanted}' in {uri}") from None
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"],
                              max_results=50) if experiments else []
    for run in runs:
        if "sft.run_dir" in run.data.tags and run.data.tags.get("sft.sweep") != "true":
            return run
    raise SFTConfigError(f"resume=last: no run of sft-train in {uri}")
