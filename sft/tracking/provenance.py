"""What it takes to rerun a run: package versions, git commit and dirty flag, config flattening;
and what it was trained for: its label set as tags (which registered model it may join)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft.config import PROJECT_ROOT

LABELS_SHOWN = 500  # characters of `sft.labels`: the digest compares, the names are for people
PACKAGES = (
    "sft",
    "torch",
    "transformers",
    "tokenizers",
    "pytorch-lightning",
    "torchmetrics",
    "mlflow",
    "hydra-core",
    "omegaconf",
    "datasets",
    "numpy",
    "pandas",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run's numbers depend on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The commit of the project checkout and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown", "dirty": "unknown"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": "unknown" if status is None else str(bool(status)).lower()}


def flatten(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as {'optimizer.lr': '5e-05', ...}: searchable MLflow params."""
    flat: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat[prefix] = str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def label_tags(labels: list[str]) -> dict[str, str]:
    """A run's label set as tags: `sft.labels` (the names, comma-separated, cut to 500
    characters) and `sft.labels_sha256` (of the sorted names: the set, not the id order)."""
    shown = ", ".join(labels)
    if len(shown) > LABELS_SHOWN:
        shown = shown[: LABELS_SHOWN - 1] + "…"
    digest = hashlib.sha256(json.dumps(sorted(labels)).encode()).hexdigest()
    return {"sft.labels": shown, "sft.labels_sha256": digest}
