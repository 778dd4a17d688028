"""Logging a run's model folder as an MLflow Model (sft.tracking.mlflow_tracker.log_model),
and keeping one copy of it on disk: the run folder's `model` becomes a link to the logged
copy when the artifact store is local."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sft.tracking.store import with_retry

log = logging.getLogger(__name__)


def log_run_model(
    tracking_uri: str, run_id: str, client, model_dir: Path, example_texts: list[str]
):
    """Log `model_dir` as the MLflow Model of run `run_id` (sft/inference/mlflow_model.py),
    without download bars, retrying a locked store; link the folder to the logged copy.
    Return (MLflow's ModelInfo, `runs:/<run id>/model`)."""
    # lazy: MLflow (see MLflowTracker.log_params) and the served model's torch-free predictor
    import mlflow
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    from sft.inference.mlflow_model import ARTIFACT, log_pyfunc

    mlflow.set_tracking_uri(tracking_uri)
    started_here = mlflow.active_run() is None
    if started_here:
        mlflow.start_run(run_id=run_id)
    bar = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    before = os.environ.get(bar)
    os.environ[bar] = "false"  # no download bars in the training log
    try:
        # A locked store mid-way leaves an unfinished logged model behind; the retry
        # logs a whole one, which beats losing the run.
        info = with_retry(log_pyfunc, Path(model_dir), example_texts)
    finally:
        if before is None:
            os.environ.pop(bar, None)
        else:
            os.environ[bar] = before
        if started_here:
            mlflow.end_run(status="RUNNING")  # detach only: the tracker's `close` ends the run
    link_to_logged_copy(Path(model_dir), logged_copy(client, info.model_id, ARTIFACT))
    return info, f"runs:/{run_id}/{ARTIFACT}"


def logged_copy(client, model_id: str, artifact: str) -> Path | None:
    """The logged model's copy of the model folder, when the artifact store is local."""
    from urllib.parse import unquote, urlparse  # lazy: only after a model is logged

    location = with_retry(client.get_logged_model, model_id).artifact_location
    if not location.startswith("file:"):
        return None  # a server's store: the run folder keeps its own copy
    folder = Path(unquote(urlparse(location).path)) / "artifacts" / artifact
    # config.json: a single model; sft_model.json alone: a fold or seed ensemble (members/)
    found = (folder / "config.json").is_file() or (folder / "sft_model.json").is_file()
    return folder if found else None


def link_to_logged_copy(model_dir: Path, copy: Path | None) -> None:
    """Replace `model_dir` by a relative link to `copy` (the same files, logged): `sft.load`,
    sft-predict and sft-export read it as before. Without a copy, or where links cannot be
    made, the folder stays."""
    if copy is None or model_dir.is_symlink() or not model_dir.is_dir():
        return
    import shutil  # lazy: only after a model is logged

    staging = model_dir.with_name(model_dir.name + ".linking")
    try:
        staging.symlink_to(os.path.relpath(copy, model_dir.parent), target_is_directory=True)
    except OSError as err:  # a file system without links: keep two copies
        log.info("model folder kept (no link to %s: %s)", copy, err.strerror)
        return
    shutil.rmtree(model_dir)
    os.replace(staging, model_dir)
