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

    def __init__(self, local_metrics: bool = True):
        self.local_metrics = local_metrics
        self.run_id = None
        self.experiment_name = None
        self.run_dir: Path | None = None

    @contextlib.contextmanager
    def run(self, default_experiment: str, tags: dict[str, str], resume: str | None = None,
            default_name: str | None = None):
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

    def log_model(self, model_dir, example_texts) -> None:
        return None  # the model folder in the run folder is all there is

    def register_model(self, name) -> None:
        return None  # no registry

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

    def describe(self) -> list[str]:
        if not self.local_metrics:
            return []
        return [f"metrics: {self.run_dir / 'metrics.csv'} (logger=none: no MLflow run)"]
