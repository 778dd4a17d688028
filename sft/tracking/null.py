"""A tracker that keeps no run: `logger=none`, and every DDP rank but zero.

With `local_metrics` (logger=none) Lightning's CSV logger writes the metrics into
`<run dir>/metrics.csv` and the artifacts stay in the run folder; without (a DDP rank other
than zero) nothing is written at all, since rank zero records the run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


class NullTracker:
    """Implements sft.tracking.protocol.Tracker by recording nothing in a store."""

    records = False  # resume and sweeps need a store: they refuse this tracker
    tracking_uri = None  # no store

    def __init__(self, local_metrics: bool = True):
        self.local_metrics = local_metrics
        self.run_id = None
        self.experiment_name = None
        self.run_dir: Path | None = None

    @contextlib.contextmanager
    def run(
        self,
        default_experiment: str,
        tags: dict[str, str],
        resume: str | None = None,
        default_name: str | None = None,
    ):
        self.experiment_name = default_experiment
        yield self

    def log_params(self, params) -> None:
        pass  # the resolved config is already in the run folder

    def set_tags(self, tags) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        pass  # the Lightning logger has them (metrics.csv)

    def log_artifact(self, path, artifact_path=None) -> None:
        pass  # artifacts are written into the run folder already

    def log_datasets(self, splits) -> None:
        pass  # the data report in the run folder says what the splits were

    def log_tables(self, folder, artifact_path) -> None:
        pass  # the tables are written into the run folder already

    def log_model(self, model_dir, example_texts) -> None:
        return None  # the model folder in the run folder is all there is

    def register_model(self, name) -> None:
        return None  # no registry

    def check_registrable(self, name, task, labels) -> None:
        pass  # no registry: nothing to mix up

    def lightning_logger(self, run_dir: Path, resumed: bool = False):
        # A logger all the same without local metrics: LearningRateMonitor refuses a Trainer
        # without one. (Not Lightning's DummyLogger: its catch-all attributes confuse Hydra.)
        from pytorch_lightning.loggers import CSVLogger  # lazy: keeps this module torch-free
        from pytorch_lightning.loggers.logger import Logger

        self.run_dir = Path(run_dir)
        if self.local_metrics:
            return CSVLogger(save_dir=str(run_dir), name="", version="")

        class SilentLogger(Logger):
            name, version = "rank", 0

            def log_metrics(self, metrics, step=None) -> None:
                pass

            def log_hyperparams(self, params, *args, **kwargs) -> None:
                pass

        return SilentLogger()

    def open(self, default_experiment, tags, name=None) -> None:
        self.experiment_name = default_experiment  # and no run: its id stays None

    def close(self, status) -> None:
        pass

    def attach(self, run_id) -> NullTracker:
        return NullTracker(local_metrics=False)  # there is no run to reach

    def handle(self) -> None:
        return None  # another process has nothing to reach

    def get_tag(self, key) -> None:
        return None

    def find_run(self, wanted) -> None:
        return None  # no store, no runs: callers check `records` first for a better line

    def run_of_model(self, model_uri) -> None:
        return None

    def download_artifact(self, run_id, path, dest):
        raise FileNotFoundError(f"{path}: logger=none keeps no artifacts of run {run_id}")

    def describe(self) -> list[str]:
        if not self.local_metrics:
            return []
        return [f"metrics: {self.run_dir / 'metrics.csv'} (logger=none: no MLflow run)"]
