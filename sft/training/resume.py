"""`sft-train resume=<run id>` or `resume=last`: continue a stopped run in the same MLflow run.

The run's folder (tag `sft.run_dir`) holds what resuming needs: the config the run started
with (`checkpoints/run_config.yaml`, with the real values of masked secrets) and `last.ckpt`
(sft.training.checkpointing). The command line only says where to find the run
(`logger.tracking_uri`, `paths.outputs`); anything else would make the resumed run differ from
the one it continues. Nor may its inputs differ: `check_unchanged` compares the data, labels,
head width and model folder with what the run recorded at its start
(sft.training.fingerprints), before the run reopens, so that a refusal leaves the stopped run
as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, read_write

from sft.config.instantiate import instantiate
from sft.config.schema import GROUPS
from sft.errors import SFTConfigError
from sft.training.fingerprints import load_fingerprints

RUN_CONFIG = "run_config.yaml"
WHERE_KEYS = ("resume", "logger.tracking_uri", "paths.outputs")


@dataclass
class Resume:
    """The run to continue, the checkpoint it continues from, and the inputs it recorded
    (sft.training.fingerprints; empty: nothing to compare, as in a DDP child)."""

    run_id: str
    checkpoint: Path
    recorded: dict = field(default_factory=dict)


def save_run_config(cfg: DictConfig, checkpoint_dir: Path) -> None:
    """Keep the run's config beside its checkpoints (local only: it is not masked)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, checkpoint_dir / RUN_CONFIG, resolve=True)


def resume_config(cfg: DictConfig, overrides: list[str] | None) -> tuple[DictConfig, Resume]:
    """The config and checkpoint of the run `cfg.resume` names (an id or `last`)."""
    extra = [o for o in overrides or [] if o.lstrip("+~").split("=")[0] not in WHERE_KEYS]
    if extra:
        raise SFTConfigError(
            f"resume: the run continues with its own config; drop "
            f"'{extra[0]}' (only {', '.join(WHERE_KEYS[1:])} may be given)"
        )
    # The tracker the config builds finds the run (sft.tracking.protocol: no store named here).
    tracker = instantiate(cfg.logger) if cfg.get("logger") is not None else None
    if not getattr(tracker, "records", False):
        raise SFTConfigError("resume: needs an MLflow run (logger=mlflow)")
    uri = tracker.tracking_uri
    wanted = str(cfg.resume)
    run = tracker.find_run(wanted)
    if run is None:
        raise SFTConfigError(
            f"resume=last: no run of sft-train in {uri}"
            if wanted == "last"
            else f"resume: no run '{wanted}' in {uri}"
        )
    name = f"run {run.run_id} ({run.name})"
    refuse_repeat(run.tags, name)
    if run.status == "FINISHED":
        raise SFTConfigError(f"resume: {name} has finished; nothing to resume")
    run_dir = run.tags.get("sft.run_dir")
    config_path = Path(run_dir or ".") / "checkpoints" / RUN_CONFIG
    if not run_dir or not config_path.is_file():
        raise SFTConfigError(
            f"resume: {name} has no {config_path} (its run folder was moved "
            f"or deleted, or sft did not start it)"
        )
    run_cfg = OmegaConf.load(config_path)
    checkpoint = (
        Path(run_cfg.callbacks.resume_checkpoint.dirpath) / "last.ckpt"
        if run_cfg.callbacks.get("resume_checkpoint")
        else None
    )
    if checkpoint is None or not checkpoint.is_file():
        raise SFTConfigError(
            f"resume: {name} saved no checkpoint before it stopped "
            f"(callbacks.resume_checkpoint saves one every "
            f"{OmegaConf.select(run_cfg, 'callbacks.resume_checkpoint.every_n_train_steps')} "
            f"training steps); start it again"
        )
    run_cfg.logger.tracking_uri = uri
    _adopt_choices(run.params)
    recorded = load_fingerprints(config_path.parent) or _tagged_fingerprints(run.tags)
    return run_cfg, Resume(run.run_id, checkpoint, recorded)


def run_again_hint(parent_run_dir: str | None) -> str:
    """What to do with a stopped CV or seed run: it is run again, not resumed (its parent
    would average children of two trainings; each child's folder is its parent's)."""
    where = f" (its config: {parent_run_dir}/config.yaml)" if parent_run_dir else ""
    return (
        "a CV or seed run is run again, not resumed: run its sft-train command again"
        f"{where}; it gets a new run folder"
    )


def refuse_repeat(tags: dict[str, str], name: str) -> None:
    """SFTConfigError when the run with `tags` is a CV or seed parent (tag `sft.repeat`) or
    one of its children (`sft.child`), saying that such a run is run again, not resumed."""
    if "sft.child" in tags:
        parent_dir = str(Path(tags["sft.run_dir"]).parent) if tags.get("sft.run_dir") else None
        what = (
            f"the child {tags['sft.child']} of the CV or seed run {tags.get('mlflow.parentRunId')}"
        )
    elif "sft.repeat" in tags:
        parent_dir, what = tags.get("sft.run_dir"), f"a {tags['sft.repeat']} parent run"
    else:
        return
    raise SFTConfigError(f"resume: {name} is {what}; {run_again_hint(parent_dir)}")


def _tagged_fingerprints(tags: dict[str, str]) -> dict:
    """What a run started before `fingerprints.json` existed recorded: its tags
    `sft.data.<split>_sha256` and `sft.task`."""
    data = {
        k[len("sft.data.") : -len("_sha256")]: v
        for k, v in tags.items()
        if k.startswith("sft.data.") and k.endswith("_sha256")
    }
    recorded = {"data": data} if data else {}
    if "sft.task" in tags:
        recorded["task"] = tags["sft.task"]
    return recorded


def check_unchanged(resume: Resume, now: dict) -> None:
    """SFTConfigError naming every recorded input of the run that differs in `now` (both as
    sft.training.fingerprints.run_fingerprints gives them): the data of a split (its sha256),
    the task, the label -> id map, the head's width, the model folder. A run continued on
    other inputs would mix two trainings in one set of weights and metrics."""
    old = resume.recorded
    changes = []
    if "data" in old:
        splits = [s for s in ("train", "val", "test") if s in old["data"] or s in now["data"]]
        changes += [
            f"the {split} data (sha256 {_short(old['data'].get(split))} -> "
            f"{_short(now['data'].get(split))})"
            for split in splits
            if old["data"].get(split) != now["data"].get(split)
        ]
    if "task" in old and old["task"] != now["task"]:
        changes.append(f"the task ({old['task']} -> {now['task']})")
    if "labels" in old and old["labels"] != now["labels"]:
        changes.append(f"the labels ({_label_change(old['labels'], now['labels'])})")
    elif "num_outputs" in old and old["num_outputs"] != now["num_outputs"]:
        changes.append(f"the head's width ({old['num_outputs']} -> {now['num_outputs']} outputs)")
    if "model" in old and old["model"] != now["model"]:
        name = now["model"]["name_or_path"]
        changes.append(
            f"the model {name} (sha256 {_short(old['model']['sha256'])} -> "
            f"{_short(now['model']['sha256'])})"
            if old["model"]["name_or_path"] == name
            else f"the model ({old['model']['name_or_path']} -> {name})"
        )
    if changes:
        listed = ", ".join(changes[:-1]) + " and " + changes[-1] if len(changes) > 1 else changes[0]
        raise SFTConfigError(
            f"resume: {listed} changed since run {resume.run_id} started; start a new run"
        )


def _short(digest: str | None) -> str:
    return "none" if digest is None else f"{digest[:12]}…"


def _label_change(old: list[str], new: list[str]) -> str:
    """What differs between two label lists (id order): names added, removed, or the order."""

    def names(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")

    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    parts = ([f"added {names(added)}"] if added else []) + (
        [f"removed {names(removed)}"] if removed else []
    )
    return "; ".join(parts) or f"ids reordered: {names(old)} -> {names(new)}"


def _adopt_choices(params: dict[str, str]) -> None:
    """Make this process's group choices the run's (logged as params `model`, `loss`, ...):
    names derived from them (the registered model's) must not change on resuming."""
    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    with read_write(choices):
        for group in GROUPS:
            if group in params:
                choices[group] = params[group]
