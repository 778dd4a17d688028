"""Serve a logged sft model over HTTP with MLflow's own scoring server, in this process.

`mlflow models serve --env-manager local` builds the same FastAPI app
(`mlflow.pyfunc.scoring_server.init`) but starts it as `uvicorn ...` through the shell, so it
needs `uvicorn` on PATH (an activated venv). Here uvicorn, an MLflow dependency, runs the app
in-process: same routes (/invocations, /ping, /health, /version), same request formats and 400
answers (sft.inference.mlflow_model), and nothing to find on PATH.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sft.config.uris import reading_tracking_uri
from sft.errors import SFTConfigError, first_line

REMOTE = ("models:/", "runs:/", "mlflow-artifacts:/")


def load_served_model(model_uri: str, tracking_uri: str, download_dir: Path):
    """The MLflow pyfunc model at `model_uri`: `models:/<name>/<version>` (or `@alias`),
    `runs:/<run id>/model`, or a local folder holding an `MLmodel` file.

    Raises SFTConfigError (naming model_uri) when it cannot be fetched or is no MLflow model
    (e.g. a run's sft model folder: sft-predict reads those; serve its `runs:/` URI)."""
    import mlflow  # lazy: the module is importable without MLflow loaded (--help)
    from mlflow.exceptions import MlflowException

    uri = str(model_uri)
    if uri.startswith(REMOTE):
        mlflow.set_tracking_uri(reading_tracking_uri(tracking_uri))
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(download_dir))
            )
        except (MlflowException, OSError) as err:
            raise SFTConfigError(
                f"model_uri: cannot fetch {uri} from "
                f"{mlflow.get_tracking_uri()} ({first_line(err)})"
            ) from None
    else:
        local = Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser()
        if not local.is_dir():
            raise SFTConfigError(
                f"model_uri: no such folder: {local} (give models:/<name>/"
                f"<version>, runs:/<run id>/model or an MLflow model folder)"
            )
    if not (local / "MLmodel").is_file():
        raise SFTConfigError(
            f"model_uri: {local} holds no MLmodel file: not an MLflow model "
            f"(serve the run's runs:/<run id>/model; sft-predict reads sft "
            f"model folders)"
        )
    try:
        return mlflow.pyfunc.load_model(str(local))
    except MlflowException as err:
        raise SFTConfigError(f"model_uri: {uri} does not load ({first_line(err)})") from None


def serve(model_uri: str, tracking_uri: str, host: str, port: int) -> None:
    """Load the model, then answer HTTP requests on host:port until SIGINT / SIGTERM (uvicorn
    stops gracefully on both). Raises SFTConfigError for a model that does not load."""
    import uvicorn  # lazy: the server only once the model is known to load
    from mlflow.pyfunc import scoring_server

    with tempfile.TemporaryDirectory(prefix="sft-serve-") as tmp:
        model = load_served_model(model_uri, tracking_uri, Path(tmp))
        app = scoring_server.init(model)
        print(
            f"Serving {model_uri} on http://{host}:{port} (POST /invocations, GET /ping); "
            f"Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        uvicorn.run(app, host=host, port=int(port), log_level="warning")
