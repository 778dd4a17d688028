"""Lightning's MLflow logger, writing into a run the tracker owns, in step with checkpoints.

Metrics are buffered and written when a checkpoint is committed (everything up to its step,
see sft.training.checkpointing), at each epoch's start, at the end of training and when Lightning
finalizes the logger. So after `kill -9` MLflow holds every metric up to the last checkpoint,
and perhaps some beyond it; the resumed run logs everything after the checkpoint again and
skips the (key, step) pairs the run already has: no step is lost, none is written twice.
"""

from __future__ import annotations

import re
import time

from mlflow.entities import Metric
from pytorch_lightning.loggers import MLFlowLogger

from sft.tracking.store import with_retry

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
MAX_BUFFERED = 20000  # beyond this, write without waiting for a checkpoint (bounded memory)


def run_logger(tracking_uri: str, experiment_name: str, run_id: str, resumed: bool = False):
    """A Lightning logger into `run_id`; `resumed`: skip metric steps the run already has."""

    class RunLogger(MLFlowLogger):
        """Buffers metrics; never ends the run (the tracker does, after testing)."""

        def __init__(self):
            super().__init__(
                experiment_name=experiment_name, tracking_uri=tracking_uri, run_id=run_id
            )
            self.buffer: list = []
            self.logged: set[tuple[str, int]] = (
                logged_steps(self.experiment, run_id) if resumed else set()
            )

        def log_hyperparams(self, params) -> None:
            pass  # the tracker logs the whole flattened config instead

        def log_metrics(self, metrics, step=None) -> None:
            now = int(time.time() * 1000)
            for key, value in metrics.items():
                key = re.sub(r"[^a-zA-Z0-9_/. -]+", "", key)  # what MLflow accepts in a name
                if (key, step or 0) not in self.logged:
                    self.buffer.append(Metric(key, float(value), now, step or 0))
            if len(self.buffer) > MAX_BUFFERED:
                self.flush()

        def flush(self, through_step: int | None = None) -> None:
            """Write the buffered metrics up to `through_step` (None: all of them)."""
            due, keep = [], []
            for metric in self.buffer:
                later = through_step is not None and metric.step > through_step
                (keep if later else due).append(metric)
            self.buffer = keep
            for i in range(0, len(due), MAX_BATCH):
                with_retry(self.experiment.log_batch, run_id, metrics=due[i : i + MAX_BATCH])

        def finalize(self, status: str = "success") -> None:
            self.flush()  # the tracker ends the run once testing and artifacts are done

    return RunLogger()


def logged_steps(client, run_id: str) -> set[tuple[str, int]]:
    """The (key, step) pairs of every metric `run_id` has logged."""
    keys = with_retry(client.get_run, run_id).data.metrics
    return {
        (key, m.step) for key in keys for m in with_retry(client.get_metric_history, run_id, key)
    }
