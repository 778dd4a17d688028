"""What a tracker is: the calls a training run makes to record itself (typing.Protocol).

`sft.training` talks to trackers through this protocol alone (an import-linter contract keeps
MLflow and sft.tracking.mlflow_tracker out of it); a new tracking backend is one module that
implements it plus one YAML in conf/logger/ whose `_target_` names its class.
Implementations: sft.tracking.mlflow_tracker.MLflowTracker (logger=mlflow) and
sft.tracking.null.NullTracker (logger=none, and every DDP rank but zero).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass
class RunRecord:
    """A run as a store holds it, read back (to resume it): id, name, status (`FINISHED`,
    `FAILED`, `KILLED`, `RUNNING`), tags and params (both str -> str)."""

    run_id: str
    name: str | None
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Tracker(Protocol):
    """One run's record keeper. `run_id` is None until `run` starts (and for trackers that
    keep no run); `records` says whether it writes to a store (sweeps and resume need one);
    `tracking_uri` names that store (None: no store)."""

    run_id: str | None
    experiment_name: str | None
    records: bool
    tracking_uri: str | None

    def run(
        self,
        default_experiment: str,
        tags: dict[str, str],
        resume: str | None = None,
        default_name: str | None = None,
    ) -> AbstractContextManager[Any]:
        """A context: the run is open inside it; it ends FINISHED, FAILED on an exception or
        KILLED on Ctrl-C/SIGTERM. `resume`: an earlier run's id to continue; `default_name`:
        the run's name unless the tracker's config names it."""

    def log_params(self, params: dict[str, Any]) -> None:
        """Record the flattened config (`optimizer.lr` -> value)."""

    def set_tags(self, tags: dict[str, str]) -> None:
        """Record string tags on the run."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record metric values at `step` (None: step 0)."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Record a file or a folder as an artifact (a missing path is skipped)."""

    def log_tables(self, folder: Path, artifact_path: str) -> None:
        """Record each JSON table of `folder` ("split" orientation) as a table artifact under
        `artifact_path` (a missing folder is skipped)."""

    def log_datasets(self, splits: list[dict]) -> None:
        """Record the run's data splits (sft.training.dataset_inputs.split_datasets: name,
        digest, source, split, columns, rows) as the store's dataset inputs."""

    def lightning_logger(self, run_dir: Path, resumed: bool = False) -> Any:
        """The Lightning logger that writes the run's per-step metrics."""

    def log_model(self, model_dir: Path, example_texts: list[str]) -> str | None:
        """Record the saved model folder; return its URI (None: not recorded). It may replace
        `model_dir` by a link to the recorded copy (same files, one copy on disk)."""

    def register_model(self, name: str) -> str | None:
        """Register the recorded model as a new version of `name` in a model registry;
        return its URI (None: this tracker has no registry)."""

    def check_registrable(self, name: str, task: str, labels: list[str]) -> None:
        """Raise SFTConfigError when the registered model `name` holds a model of another
        task or label set (a new version must be the same problem); a no-op without a
        registry."""

    def describe(self) -> list[str]:
        """Lines for the end-of-run summary: where the run's record is."""

    # What runs that span processes or outlive one block need (a sweep's parent run, a DDP
    # child rank that fails, `resume`, `sft-export` reading a run's data back).

    def open(
        self, default_experiment: str, tags: dict[str, str], name: str | None = None
    ) -> str | None:
        """Start a run that no `with` block holds (a sweep's parent: the sweep's callbacks
        end it with `close`); `name` names it (None: the tracker's configured name). Return
        its id."""

    def close(self, status: str) -> None:
        """End the run as `status` (FINISHED, FAILED, KILLED)."""

    def attach(self, run_id: str) -> Tracker:
        """A tracker of the same store for the existing run `run_id` (to log into it, read its
        tags or end it)."""

    def handle(self) -> dict | None:
        """What builds a tracker of the same store in another process: a JSON-able config
        node for sft.config.instantiate (then `attach` the run). None: nothing to reach."""

    def get_tag(self, key: str) -> str | None:
        """The run's tag `key` as the store has it (None: not set)."""

    def find_run(self, wanted: str) -> RunRecord | None:
        """The run with id `wanted`, or for `last` the latest run sft-train started (tag
        `sft.run_dir`; not a sweep's parent); None when the store has no such run."""

    def run_of_model(self, model_uri: str) -> str | None:
        """The id of the run behind `model_uri` (`runs:/<id>/...`, or a registered version in
        this store: `models:/<name>/<version>`, `models:/<name>@<alias>`); None for a plain
        folder, or a version the registry does not have."""

    def download_artifact(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy the run's artifact `path` into the folder `dest`; return the copy's path.
        Raises whatever the store raises when there is no such artifact."""
