"""Run tracking: MLflow (default) or the run folder alone.

The tracker owns the run's life: it starts the run before any data is read and ends it as
FINISHED, FAILED (an exception) or KILLED (Ctrl-C), so no run is ever left RUNNING. Lightning
logs metrics into that same run through a logger that does not end it.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger, MLFlowLogger

log = logging.getLogger(__name__)


class _RunLogger(MLFlowLogger):
    """Lightning's MLflow logger, writing into a run it does not own."""

    def finalize(self, status: str = "success") -> None:
        pass  # the tracker ends the run once testing and artifacts are done

    def log_hyperparams(self, params) -> None:
        pass  # the tracker logs the whole flattened config instead


class MLflowTracker:
    """Logs params, metrics, tags and artifacts of one run to an MLflow tracking store."""

    def __init__(self, tracking_uri: str, experiment_name: str | None = None,
                 run_name: str | None = None, tags: dict | None = None):
        self.tracking_uri = _absolute_sqlite(tracking_uri)
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.run_id: str | None = None
        self._client = None

    @contextlib.contextmanager
    def run(self, default_experiment: str, tags: dict[str, str]):
        """Start a run; end it FINISHED, FAILED on an exception, KILLED on Ctrl-C."""
        from mlflow import MlflowClient

        self._client = MlflowClient(self.tracking_uri)
        name = self.experiment_name or default_experiment
        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            experiment_id = self._client.create_experiment(name, self._artifact_location(name))
        else:
            experiment_id = experiment.experiment_id
        run = self._client.create_run(experiment_id, run_name=self.run_name,
                                      tags={**tags, **{k: str(v) for k, v in self.tags.items()}})
        self.run_id = run.info.run_id
        self.experiment_name = name
        status = "FAILED"
        try:
            yield self
            status = "FINISHED"
        except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl-C into SystemExit
            status = "KILLED"
            raise
        finally:
            self._client.set_terminated(self.run_id, status)

    def _artifact_location(self, experiment: str) -> str | None:
        """Artifacts beside a local SQLite store (under outputs/), not in ./mlruns."""
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri[len("sqlite:///"):])
            return (db.parent / "artifacts" / experiment).resolve().as_uri()
        return None

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._client.log_batch(self.run_id, params=items[i: i + 100])

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._client.set_tag(self.run_id, key, str(value))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), now, step or 0) for k, v in metrics.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.exists():
            self._client.log_artifact(self.run_id, str(path), artifact_path)

    def lightning_logger(self, run_dir: Path):
        return _RunLogger(experiment_name=self.experiment_name, tracking_uri=self.tracking_uri,
                          run_id=self.run_id)

    def describe(self) -> list[str]:
        return [f"MLflow run {self.run_id} in experiment '{self.experiment_name}' "
                f"({self.tracking_uri})",
                f"  compare runs: mlflow ui --backend-store-uri {self.tracking_uri}"]


class LocalTracker:
    """No tracking server: metrics go to <run dir>/metrics.csv, artifacts stay in the run dir."""

    def __init__(self):
        self.run_id = None
        self.experiment_name = None
        self.run_dir: Path | None = None

    @contextlib.contextmanager
    def run(self, default_experiment: str, tags: dict[str, str]):
        self.experiment_name = default_experiment
        yield self

    def log_params(self, params) -> None:
        pass  # the resolved config is already in the run folder

    def set_tags(self, tags) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        pass  # Lightning's CSV logger has them

    def log_artifact(self, path, artifact_path=None) -> None:
        pass  # artifacts are written into the run folder already

    def lightning_logger(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        return CSVLogger(save_dir=str(run_dir), name="", version="")

    def describe(self) -> list[str]:
        return [f"metrics: {self.run_dir / 'metrics.csv'} (logger=none: no MLflow run)"]


def _absolute_sqlite(uri: str) -> str:
    """sqlite:///relative.db -> sqlite:////abs/relative.db, creating the folder."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):]).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return uri
