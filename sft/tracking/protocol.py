"""What a tracker is: the calls a training run makes to record itself (typing.Protocol).

`sft.training` talks to trackers through this protocol alone; a new tracking backend is one
module that implements it plus one YAML in conf/logger/ whose `_target_` names its class.
Implementations: sft.tracking.mlflow_tracker.MLflowTracker (logger=mlflow) and
sft.tracking.null.NullTracker (logger=none, and every DDP rank but zero).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Tracker(Protocol):
    """One run's record keeper. `run_id` is None until `run` starts (and for trackers that
    keep no run); `records` says whether it writes to a store (sweeps and resume need one)."""

    run_id: str | None
    experiment_name: str | None
    records: bool

    def run(self, default_experiment: str, tags: dict[str, str], resume: str | None = None,
            default_name: str | None = None) -> AbstractContextManager[Any]:
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

    def lightning_logger(self, run_dir: Path, resumed: bool = False) -> Any:
        """The Lightning logger that writes the run's per-step metrics."""

    def log_model(self, model_dir: Path, example_texts: list[str]) -> str | None:
        """Record the saved model folder; return its URI (None: not recorded). It may replace
        `model_dir` by a link to the recorded copy (same files, one copy on disk)."""

    def register_model(self, name: str) -> str | None:
        """Register the recorded model as a new version of `name` in a model registry;
        return its URI (None: this tracker has no registry)."""

    def describe(self) -> list[str]:
        """Lines for the end-of-run summary: where the run's record is."""
