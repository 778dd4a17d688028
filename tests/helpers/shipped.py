"""A trained tiny BERT shipped as a user ships it, for the tests of what ships: the `shipped`
run (logged and registered in MLflow), the `server` that serves it (`mlflow models serve`), a
client that `post`s to it, and `app_config`, an app's config as its entry point composes it.

Fixtures are module-scoped: a test file imports the ones it uses (`from helpers.shipped import
shipped, server`), and each such file trains and serves once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from conftest import PROJECT_ROOT, mlflow_runs
from helpers.names import auto_model_name
from helpers.servers import free_port, stop_server, wait_until_serving
from sft.train import train_task


@pytest.fixture(scope="module")
def shipped(tiny_model_dir, toy_data, tmp_path_factory):
    """One training run with the default logger: the model is logged and registered."""
    from hydra import compose, initialize_config_dir

    import sft.training.recording
    from conftest import tiny_overrides
    from sft.cli import CONF_DIR

    out = tmp_path_factory.mktemp("shipped")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        # Tuned decisions are off by default; this shipped model carries them (and a temperature).
        cfg = compose(
            config_name="train",
            overrides=[*tiny_overrides(tiny_model_dir, toy_data, out), "decisions.tune=true"],
        )
    captured = {}
    save_model = sft.training.recording.save_model

    def capture(module, *args, **kwargs):  # the in-memory model, best checkpoint restored
        captured["module"] = module
        return save_model(module, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sft.training.recording, "save_model", capture)
        train_task(cfg)
    client, runs = mlflow_runs(out, "text_csv")
    name = auto_model_name("text_csv", toy_data["train"], "multiclass")
    return {
        "out": out,
        "client": client,
        "run": runs[0],
        "module": captured["module"].eval(),
        "tracking_uri": f"sqlite:///{out}/mlflow.db",
        "name": name,
        "uri": f"models:/{name}/1",
        "texts": pd.read_csv(toy_data["test"])["text"].tolist(),
        "test_csv": toy_data["test"],
        "model_dir": out / "run" / "model",
    }


def post(port: int, body, raw: bool = False):
    """POST `body` (JSON, or a raw string) to /invocations on `port`: (status, answer), errors
    included."""
    data = body.encode() if raw else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, {"message": text}


@pytest.fixture(scope="module")
def server(shipped, tmp_path_factory):
    """`mlflow models serve` on the registered model, on a free loopback port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    # The server execs `uvicorn` from PATH: the one beside this Python, as in an active venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": shipped["tracking_uri"],
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PATH": path,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                shipped["uri"],
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        wait_until_serving(proc, port, log_path, 300)
        yield port
    finally:
        stop_server(proc)


def app_config(name: str, *overrides: str):
    """apps/<name>.yaml composed with `overrides`, as the app would get it."""
    from hydra import compose, initialize_config_dir

    from sft.config import APPS_CONF_DIR

    with initialize_config_dir(config_dir=APPS_CONF_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))
