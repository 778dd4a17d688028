"""Rerun a logged run: its logged config pointed at a new run folder, and the metric
comparison (`sft-reproduce`, sft/reproduce.py, prints it)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from sft.errors import SFTConfigError, first_line

# Metrics that measure the machine, not the model: never compared.
UNCOMPARED = ("time/", "perf/", "lr-")
CHECKED_TAGS = (
    "sft.git_commit",
    "sft.git_dirty",
    "sft.version.torch",
    "sft.version.transformers",
    "sft.version.pytorch-lightning",
    "sft.data.train_sha256",
    "sft.data.val_sha256",
    "sft.data.test_sha256",
)


def load_logged_config(client, run, run_dir: Path):
    """The run's resolved config, pointed at a new run folder and marked as a rerun."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "config.yaml", tmp)
        except Exception as err:  # MlflowException or OSError: no such artifact
            raise SFTConfigError(
                f"run_id: run {run.info.run_id} has no config.yaml artifact ({first_line(err)})"
            ) from None
        text = Path(path).read_text()
    old_dir = OmegaConf.create(text).paths.run_dir
    cfg = OmegaConf.create(text.replace(str(old_dir), str(run_dir)))
    cfg.logger.run_name = f"reproduce-of-{run.info.run_name}"
    cfg.logger.tags = {**(cfg.logger.get("tags") or {}), "sft.reproduces": run.info.run_id}
    name = registered_name(run.data.tags)
    if name and "registered_model_name" in cfg.logger:
        cfg.logger.registered_model_name = name  # a new version of the original's model
    return cfg


def registered_name(tags: dict[str, str]) -> str | None:
    """The registered model a run's model became a version of (None: not registered)."""
    uri = tags.get("sft.model_uri", "")
    return tags.get("sft.registered_model") or (
        uri.split("/")[1] if uri.startswith("models:/") else None
    )


def compare(original: dict[str, float], rerun: dict[str, float]) -> list[tuple]:
    """(metric, original, rerun, match) for every metric the original logged."""
    rows = []
    for key in sorted(original):
        if key.startswith(UNCOMPARED):
            continue
        value = rerun.get(key)
        same = value is not None and (
            value == original[key] or (math.isnan(value) and math.isnan(original[key]))
        )
        rows.append((key, original[key], value, same))
    return rows
