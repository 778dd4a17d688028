"""The MLflow tracker (logger=mlflow, the default): a run in an MLflow tracking store.

The tracker owns the run's life: it starts the run before any data is read and ends it as
FINISHED, FAILED (an exception) or KILLED (Ctrl-C), so no run is ever left RUNNING. Lightning
logs metrics into that same run through a logger that does not end it. Inside a sweep the run
is a child of the sweep's parent run (see sft.tracking.sweep).

Importing this module is cheap (no Lightning, MLflow only once a store is used).
Several processes may write to one SQLite store at once (parallel sweep jobs); a write that
finds the database locked is retried with backoff instead of failing the run. A tracking
server that does not answer fails the run at once, with one line, instead of after MLflow's
minutes of retries. Secret-looking params and user tags are masked (sft.tracking.masking).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from sft.config.uris import absolute_tracking_uri
from sft.errors import SFTConfigError
from sft.tracking.datasets import dataset_inputs
from sft.tracking.masking import mask_values
from sft.tracking.mlflow_models import log_run_model
from sft.tracking.mlflow_reading import MLflowReading
from sft.tracking.notes import experiment_note, failure_tags, ui_lines
from sft.tracking.store import open_client, with_retry

log = logging.getLogger(__name__)


class MLflowTracker(MLflowReading):
    """Logs params, metrics, tags and artifacts of one run to an MLflow tracking store.

    Implements sft.tracking.protocol.Tracker. `tracking_uri`: any MLflow URI (a relative
    `sqlite:///` path is made absolute); `registered_model_name` and `register` are the
    logger config's (sft.training.run_outputs.registration reads them).
    """

    records = True  # a sweep nests its jobs under a parent run only in a tracker that records

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tags: dict | None = None,
        log_model: bool = True,
        registered_model_name: str | None = None,
        register: str = "auto",
    ):
        self.tracking_uri = absolute_tracking_uri(tracking_uri)
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.log_model_enabled = log_model
        # What to register is the run's decision (sft.training.run_outputs.registration).
        self.registered_model_name = registered_model_name
        self.register = register
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._client = None
        self._logged_model_uri: str | None = None  # set by log_model

    def attach(self, run_id: str) -> MLflowTracker:
        """A tracker of this store for the existing run `run_id` (to log into it or end it)."""
        tracker = MLflowTracker(self.tracking_uri)
        tracker.run_id = run_id
        tracker._client = tracker._new_client()
        return tracker

    def handle(self) -> dict:
        """The config node that builds a tracker of this store (then `attach` a run)."""
        cls = type(self)
        return {
            "_target_": f"{cls.__module__}.{cls.__qualname__}",
            "tracking_uri": self.tracking_uri,
        }

    def _new_client(self):
        return open_client(self.tracking_uri)

    @property
    def client(self):
        return self._client

    @contextlib.contextmanager
    def run(
        self,
        default_experiment: str,
        tags: dict[str, str],
        resume: str | None = None,
        default_name: str | None = None,
    ):
        """A run for the block: FINISHED, FAILED on an exception, KILLED on Ctrl-C or a
        signal. `resume`: the id of an earlier run to continue instead of a new run;
        `default_name`: the run's name unless logger.run_name sets one (a sweep job's)."""
        if resume is not None:
            self.reopen(resume, tags)
        else:
            if self.run_name is None:
                self.run_name = default_name
            self.open(default_experiment, tags)
        status = "FAILED"
        try:
            yield self
            status = "FINISHED"
        except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl-C into SystemExit
            status = "KILLED"
            raise
        except Exception as err:
            self.record_failure(err)
            raise
        finally:
            self.close(status)

    def open(self, default_experiment: str, tags: dict[str, str], name: str | None = None) -> str:
        """Create the run (and its experiment if new), named `name` (None: logger.run_name);
        return its id."""
        if name is not None:
            self.run_name = name
        self._client = self._new_client()
        name = self.experiment_name or default_experiment
        experiment_id = self._experiment_id(name)
        # logger.tags come from the user: masked; sft's own tags never hold secrets.
        tags = {**tags, **mask_values({k: str(v) for k, v in self.tags.items()})}
        run = with_retry(self._client.create_run, experiment_id, run_name=self.run_name, tags=tags)
        self.run_id, self.run_name = run.info.run_id, run.info.run_name
        self.experiment_name, self.experiment_id = name, experiment_id
        return self.run_id

    def reopen(self, run_id: str, tags: dict[str, str]) -> None:
        """Continue the run `run_id` (it ran before and stopped): RUNNING again."""
        self._client = self._new_client()
        run = with_retry(self._client.get_run, run_id)
        with_retry(self._client.update_run, run_id, status="RUNNING")
        self.run_id, self.run_name = run_id, run.info.run_name
        self.experiment_id = run.info.experiment_id
        self.experiment_name = with_retry(self._client.get_experiment, run.info.experiment_id).name
        self.set_tags(tags)

    def close(self, status: str) -> None:
        with_retry(self._client.set_terminated, self.run_id, status)

    def record_failure(self, error: BaseException) -> None:
        """Record why the run fails (sft.tracking.notes.failure_tags: the `sft.error` tag and
        the description); a store that refuses only logs a warning: `error` is what counts."""
        if self._client is None or self.run_id is None:
            return
        try:
            self.set_tags(failure_tags(error))
        except Exception as err:  # any store failure: the run's own error must not be masked
            log.warning("could not record the failure of run %s: %s", self.run_id, err)

    def log_datasets(self, splits: list[dict]) -> None:
        """Log the run's data splits as MLflow dataset inputs (sft.tracking.datasets)."""
        if splits:
            with_retry(self._client.log_inputs, self.run_id, datasets=dataset_inputs(splits))

    def _experiment_id(self, name: str) -> str:
        """The experiment's id, creating it; safe when several processes race to create it."""
        from mlflow.exceptions import MlflowException  # lazy: see log_params

        for _ in range(3):
            experiment = with_retry(self._client.get_experiment_by_name, name)
            if experiment is not None:
                return experiment.experiment_id
            try:
                # "custom_model_development": the UI opens it as model training (runs,
                # charts), not as a GenAI experiment (traces, evaluations).
                return with_retry(
                    self._client.create_experiment,
                    name,
                    self._artifact_location(name),
                    tags={
                        "mlflow.note.content": experiment_note(name),
                        "mlflow.experimentKind": "custom_model_development",
                    },
                )
            except MlflowException as err:
                if "already exists" not in str(err) and "UNIQUE" not in str(err):
                    raise
        raise RuntimeError(f"could not create or find MLflow experiment {name!r}")

    def _artifact_location(self, experiment: str) -> str | None:
        """Artifacts beside a local SQLite store (under outputs/), not in ./mlruns."""
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri[len("sqlite:///") :])
            return (db.parent / "artifacts" / experiment).resolve().as_uri()
        return None

    def log_params(self, params: dict[str, str]) -> None:
        """Log params in batches. A value longer than MLflow's limit (6000 characters) is cut
        to it, with one warning naming every such key and where the whole value is (the
        run's config.yaml artifact), and the tag `sft.truncated_params` listing them."""
        # lazy, like every MLflow import in this module: the CLI imports it (through the
        # sweep callback) for every app, --help included; MLflow loads once a run logs
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as LIMIT

        values = {k: str(v) for k, v in mask_values(params).items()}
        cut = {k: len(v) for k, v in values.items() if len(v) > LIMIT}
        items = [Param(k, v[:LIMIT]) for k, v in values.items()]
        for i in range(0, len(items), 100):
            with_retry(self._client.log_batch, self.run_id, params=items[i : i + 100])
        if cut:
            named = ", ".join(f"{k} ({n} characters)" for k, n in sorted(cut.items()))
            log.warning(
                "MLflow keeps %d characters of a param: cut %s; the whole value is in "
                "the run's config.yaml artifact",
                LIMIT,
                named,
            )
            self.set_tags({"sft.truncated_params": ",".join(sorted(cut))})

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag  # lazy: see log_params

        with_retry(
            self._client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]
        )

    def get_tag(self, key: str) -> str | None:
        return with_retry(self._client.get_run, self.run_id).data.tags.get(key)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric  # lazy: see log_params

        now = int(time.time() * 1000)
        with_retry(
            self._client.log_batch,
            self.run_id,
            metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()],
        )

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.exists():
            self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_tables(self, folder: Path, artifact_path: str) -> None:
        """Log each JSON table of `folder` ({"columns": [...], "data": [[...], ...]}, pandas'
        "split" orientation) with MLflow's log_table: the artifact plus the run's
        `mlflow.loggedArtifacts` tag, which makes the UI show it as a table."""
        import pandas as pd  # lazy: only runs that wrote tables

        for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else ():
            table = json.loads(path.read_text())
            frame = pd.DataFrame(table["data"], columns=table["columns"])
            with_retry(self._client.log_table, self.run_id, frame, f"{artifact_path}/{path.name}")

    def lightning_logger(self, run_dir: Path, resumed: bool = False):
        from sft.tracking.run_logger import run_logger  # lazy: it imports Lightning

        return run_logger(self.tracking_uri, self.experiment_name, self.run_id, resumed)

    def log_model(self, model_dir: Path, example_texts: list[str]) -> str | None:
        """Log the model folder as an MLflow Model of this run (sft/inference/mlflow_model.py);
        return its URI (None: logger.log_model=false). With a local artifact store the run
        folder's `model_dir` becomes a link to the logged copy: one copy on disk, not two."""
        if not self.log_model_enabled:
            return None
        info, uri = log_run_model(
            self.tracking_uri, self.run_id, self._client, model_dir, example_texts
        )
        self._logged_model_uri = info.model_uri
        self.set_tags({"sft.model_uri": uri, "sft.logged_model_uri": info.model_uri})
        return uri

    def register_model(self, name: str) -> str:
        """Register the model this run logged (`log_model`, or an earlier process's, e.g. a
        sweep's best job) as a new version of `name`; return `models:/<name>/<version>`.

        Raises SFTConfigError when the run logged no model."""
        from sft.tracking.registry import register_run_model  # lazy: as log_model's imports

        run = with_retry(self._client.get_run, self.run_id)
        source = self._logged_model_uri or run.data.tags.get("sft.logged_model_uri")
        if not source:
            raise SFTConfigError(
                f"cannot register run {self.run_id}: it logged no model (logger.log_model=false)"
            )
        return register_run_model(self._client, run, source, name)

    def check_registrable(self, name: str, task: str, labels: list[str]) -> None:
        from sft.tracking.registry import check_same_problem  # lazy: as log_model's imports

        check_same_problem(self._client, name, task, labels)

    def describe(self) -> list[str]:
        return [
            f"MLflow run {self.run_id} ({self.run_name}) in experiment "
            f"'{self.experiment_name}' ({self.tracking_uri})",
            *ui_lines(self.tracking_uri, self.experiment_id),
        ]
