"""Find a trained model's folder from what a user has at hand: a registered model
(`models:/<name>/<version>` or `@alias`), a run (`runs:/<run id>/model`, or a run id), or a
local folder. MLflow is imported only for the first two; nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sft.config.uris import reading_tracking_uri
from sft.errors import SFTConfigError, first_line
from sft.inference.predictor import model_folder

REMOTE = ("models:/", "runs:/", "mlflow-artifacts:/")


def resolve_model(
    model_uri: str, tracking_uri: str, download_dir: Path, key: str = "model_uri"
) -> Path:
    """The local sft model folder for `model_uri` (downloaded into `download_dir` if remote)."""
    uri = str(model_uri)
    if not uri.startswith(REMOTE):
        path = Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser()
        if not path.exists():
            raise SFTConfigError(
                f"{key}: no such folder: {path} (give a folder, "
                f"models:/<name>/<version> or runs:/<run id>/model)"
            )
        return _folder(path, key)
    # lazy: a model folder resolves without MLflow
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(reading_tracking_uri(tracking_uri))
    try:
        with _no_download_bars():
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(download_dir)
            )
    except (MlflowException, OSError) as err:
        raise SFTConfigError(
            f"{key}: cannot fetch {uri} from {mlflow.get_tracking_uri()} ({first_line(err)})"
        ) from None
    return _folder(Path(local), key)


@contextlib.contextmanager
def _no_download_bars() -> Iterator[None]:
    """No MLflow artifact download bars (one per file) in sft-predict's and sft-export's
    output, unless the user asked for them with MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR."""
    # lazy: as in resolve_model
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as bar

    if bar.name in os.environ:
        yield
        return
    os.environ[bar.name] = "false"
    try:
        yield
    finally:
        os.environ.pop(bar.name, None)


def run_model(run_id: str, tracking_uri: str, download_dir: Path) -> Path:
    """The model a training run logged (`runs:/<id>/model`), else its run folder's `model/`."""
    from mlflow import MlflowClient  # lazy: as in resolve_model
    from mlflow.exceptions import MlflowException

    uri = reading_tracking_uri(tracking_uri)
    try:
        run = MlflowClient(uri).get_run(run_id)
    except MlflowException:
        raise SFTConfigError(f"run_id: no run '{run_id}' in {uri}") from None
    try:
        return resolve_model(f"runs:/{run_id}/model", uri, download_dir, key="run_id")
    except SFTConfigError:
        local = run.data.tags.get("sft.model_dir")
        if local and Path(local).is_dir():
            return _folder(Path(local), "run_id")
        raise SFTConfigError(
            f"run_id: run '{run_id}' logged no model and its model folder "
            f"({local or 'unknown'}) is gone"
        ) from None


def _folder(path: Path, key: str) -> Path:
    try:
        return model_folder(path)
    except SFTConfigError as err:
        raise SFTConfigError(f"{key}: {err}") from None
