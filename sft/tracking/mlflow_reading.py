"""What the MLflow tracker reads back from its store: a run to resume (`find_run`), the run
behind a model URI and a run's artifact (`sft-export` reads a run's data split again).

A mixin of sft.tracking.mlflow_tracker.MLflowTracker (its `tracking_uri`, `_client` and
`_new_client`), kept apart so that each module stays one reading long.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sft.tracking.protocol import RunRecord


class MLflowReading:
    """Reads runs, registered versions and artifacts back from `self.tracking_uri`."""

    def find_run(self, wanted: str) -> RunRecord | None:
        """The run `wanted` (an id), or for `last` the latest run sft-train started (tag
        `sft.run_dir`, not a sweep's parent); None when the store has none."""
        # lazy, like every MLflow import of the tracker: MLflow loads once a store is used
        from mlflow.exceptions import MlflowException

        client = self._client = self._client or self._new_client()
        if wanted != "last":
            try:
                return _record(client.get_run(wanted))
            except MlflowException:
                return None
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = (
            client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=50)
            if experiments
            else []
        )
        return next(
            (
                _record(run)
                for run in runs
                if "sft.run_dir" in run.data.tags and run.data.tags.get("sft.sweep") != "true"
            ),
            None,
        )

    def run_of_model(self, model_uri: str) -> str | None:
        """The run behind `runs:/<id>/...` or a registered `models:/<name>/<version>` or
        `models:/<name>@<alias>`; None for anything else or a version the registry lacks."""
        uri = str(model_uri or "")
        if uri.startswith("runs:/"):
            return uri[len("runs:/") :].split("/", 1)[0]
        if not uri.startswith("models:/"):
            return None
        from mlflow import MlflowClient  # lazy: as in find_run

        name_version = uri[len("models:/") :].strip("/")
        client = MlflowClient(self.tracking_uri)
        try:
            if "@" in name_version:
                name, alias = name_version.split("@", 1)
                return client.get_model_version_by_alias(name, alias).run_id
            name, version = name_version.rsplit("/", 1)
            return client.get_model_version(name, version).run_id
        except Exception:  # MlflowException, ValueError: not a version we can name
            return None

    def download_artifact(self, run_id: str, path: str, dest: Path) -> Path:
        """Copy the run's artifact `path` into `dest`, without a download bar; return where
        it is."""
        from mlflow import MlflowClient  # lazy: as in find_run

        with quiet_downloads():
            return Path(MlflowClient(self.tracking_uri).download_artifacts(run_id, path, str(dest)))


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow "Downloading artifacts" bars (one per download) for the block, unless the user
    asked for them with MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR: sft-export's agreement check and
    sft-reproduce read a config.yaml, and a bar for it on stderr read as a step of its own."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # mlflow.environment_variables' name
    if name in os.environ:
        yield
        return
    os.environ[name] = "false"
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _record(run) -> RunRecord:
    """An MLflow run as the protocol's RunRecord."""
    return RunRecord(
        run.info.run_id,
        run.info.run_name,
        run.info.status,
        dict(run.data.tags),
        dict(run.data.params),
    )
