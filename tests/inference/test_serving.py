"""The MLflow model is logged as code (MLflow's models-from-code), not as a pickle: logging it
warns of no arbitrary-code risk, and the stored model loads, limits requests by its
model_config and is still found by sft.load."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sft
from helpers.saved_models import TEXTS, build
from sft.errors import SFTConfigError
from sft.inference.mlflow_model import RequestError, SFTPythonModel, pinned_requirements
from sft.inference.predictor import model_folder
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model
from sft.tracking.mlflow_tracker import MLflowTracker


def said_while(action):
    """Run `action`; return (its result, all that MLflow logged and Python warned meanwhile)."""
    import mlflow  # noqa: F401  (MLflow configures its loggers on import: attach after it)

    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("mlflow")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = action()
    finally:
        logger.removeHandler(handler)
    return result, text.getvalue() + "\n".join(str(w.message) for w in caught)


@pytest.fixture(scope="module")
def logged(tiny_model_dir, tmp_path_factory):
    """An untrained tiny model folder, logged by MLflowTracker.log_model into a fresh store."""
    import mlflow

    out = tmp_path_factory.mktemp("serving")
    module = build(tiny_model_dir, "multiclass")
    folder = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, out / "model"
    )
    tracker = MLflowTracker(f"sqlite:///{out}/mlflow.db")
    tracker.open("serving", {})
    uri, said = said_while(lambda: tracker.log_model(folder, TEXTS))
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(out / "download")))
    yield {"tracker": tracker, "folder": folder, "uri": uri, "said": said, "local": local}
    tracker.close("FINISHED")


def test_logging_the_model_stores_code_and_warns_of_no_pickle(logged):
    import mlflow

    assert logged["uri"] == f"runs:/{logged['tracker'].run_id}/model"
    said = logged["said"].lower()
    assert "cloudpickle" not in said and "arbitrary code" not in said, logged["said"]
    local = logged["local"]
    assert not (local / "python_model.pkl").exists() and not list(local.rglob("*.pkl"))
    code = (local / "serving_model.py").read_text()
    assert "from sft.inference.mlflow_model import SFTPythonModel" in code and len(code) < 2000
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert flavor["config"] == {"max_rows": 1000, "max_chars": 50000}
    assert "python_model" not in flavor
    assert set(pinned_requirements()) <= set((local / "requirements.txt").read_text().split())
    # sft.load finds the model folder inside the downloaded MLflow model
    assert model_folder(local) == local / "artifacts" / "model"
    assert sft.load(local).predict(TEXTS) == sft.load(logged["folder"]).predict(TEXTS)
    # The check above can see the warning: a pickled instance, logged the same way, warns.
    with mlflow.start_run(run_id=logged["tracker"].run_id):
        _, pickled = said_while(
            lambda: mlflow.pyfunc.log_model(
                name="pickled",
                python_model=SFTPythonModel(),
                artifacts={"model": str(logged["folder"])},
                pip_requirements=["torch"],
            )
        )
        mlflow.end_run(status="RUNNING")
    assert "arbitrary code" in pickled and "CloudPickle" in pickled


def test_model_config_sets_the_request_limits(logged):
    import mlflow

    mlflow.set_tracking_uri(logged["tracker"].tracking_uri)
    default = mlflow.pyfunc.load_model(logged["uri"])
    expected = sft.load(logged["folder"]).predict(TEXTS)
    assert default.predict(pd.DataFrame({"text": TEXTS})) == expected
    with pytest.raises(RequestError, match=r"too many texts: 1001 .*at most 1000"):
        default.predict(pd.DataFrame({"text": ["good"] * 1001}))
    small = mlflow.pyfunc.load_model(logged["uri"], model_config={"max_rows": 2, "max_chars": 10})
    short = ["good drug", "okay"]  # 2 texts of at most 10 characters: within the limits
    assert small.predict(pd.DataFrame({"text": short})) == [expected[0], expected[2]]
    with pytest.raises(RequestError, match=r"too many texts: 3 in one request \(at most 2\)"):
        small.predict(pd.DataFrame({"text": ["a", "b", "c"]}))
    with pytest.raises(
        RequestError,
        match=r"input 0: text too long: 11 characters "
        r"\(at most 10\)",
    ):
        small.predict(pd.DataFrame({"text": ["x" * 11]}))
    for bad in ({"max_rows": 0}, {"max_chars": "many"}, {"max_rows": True}):
        key = next(iter(bad))
        with pytest.raises(SFTConfigError, match=f"model_config: '{key}' must be an integer > 0"):
            mlflow.pyfunc.load_model(logged["uri"], model_config=bad)


def test_a_csv_request_is_answered_like_a_json_one(logged):
    """`text/csv` requests failed with MLflow's TensorSpec message; a CSV with a `text`
    column (or one column) is now read as the texts, and a CSV without one is refused in one
    line that names the accepted forms."""
    import json

    from mlflow.pyfunc import scoring_server

    model = mlflow_pyfunc_load(logged["local"])
    app = scoring_server.init(model)
    client = app.test_client() if hasattr(app, "test_client") else None
    if client is None:  # MLflow 3 serves with FastAPI
        from fastapi.testclient import TestClient

        client = TestClient(app)
    texts = TEXTS[:3]
    body = pd.DataFrame({"text": texts}).to_csv(index=False)
    answer = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    as_json = client.post(
        "/invocations",
        content=json.dumps({"inputs": texts}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.json() == as_json.json()
    wrong = pd.DataFrame({"review": texts, "stars": [1, 2, 3]}).to_csv(index=False)
    refused = client.post("/invocations", content=wrong, headers={"Content-Type": "text/csv"})
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "TensorSpec" not in message and "\n" not in message.strip()
    assert message.endswith(
        "no 'text' column (columns: review, stars); send a CSV with a 'text' column (or one "
        'column), {"inputs": ["text", ...]} or a dataframe_split with a \'text\' column'
    ), message


def mlflow_pyfunc_load(folder):
    import mlflow

    return mlflow.pyfunc.load_model(str(folder))


def test_the_loaded_model_takes_a_plain_list_as_the_rest_server_does(logged):
    """`mlflow.pyfunc.load_model(uri).predict(["a", "b"])`, the natural call, failed with
    MLflow's "Model is missing inputs ['text']"; every form the server takes works in Python
    too, and a null or a number is still refused by row, not predicted as "None" or "7"."""
    import mlflow
    import numpy as np

    mlflow.set_tracking_uri(logged["tracker"].tracking_uri)
    model = mlflow.pyfunc.load_model(logged["uri"])
    expected = sft.load(logged["folder"]).predict(TEXTS)
    assert model.predict(list(TEXTS)) == expected
    assert model.predict({"text": list(TEXTS)}) == expected
    assert model.predict(np.array(TEXTS, dtype=object)) == expected
    assert model.predict(pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})) == expected
    with pytest.raises(RequestError, match="input 1: expected a string, got null"):
        model.predict(["good", None])
    with pytest.raises(RequestError, match="input 0: expected a string, got int"):
        model.predict([7, "good"])
    example = json.loads((logged["local"] / "serving_input_example.json").read_text())
    assert example == {"inputs": list(TEXTS)}  # the REST form of a plain list
