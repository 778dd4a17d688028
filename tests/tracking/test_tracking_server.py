"""A shared MLflow tracking server: `logger.tracking_uri=http://host:port` sends the run, its
artifacts and its registered model there, as the README's commands set it up."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import run_sft, tiny_overrides
from helpers.servers import free_port


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow server exited: {server.stderr.read()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server at {url} did not answer in {timeout_s} s")


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """`mlflow server` as the README starts it: SQLite backend, a served artifact root."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    server = subprocess.Popen(
        [
            mlflow,
            "server",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server)
        yield url, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_run_artifacts_and_registered_model_go_to_the_server(
    tracking_server, tiny_model_dir, toy_data, tmp_path
):
    import mlflow.artifacts
    from mlflow import MlflowClient

    url, root = tracking_server
    out = tmp_path / "client"
    done = run_sft(
        "train",
        *tiny_overrides(tiny_model_dir, toy_data, out),
        "trainer.max_epochs=1",
        f"logger.tracking_uri={url}",
        "logger.experiment_name=shared",
        "logger.registered_model_name=shared-tiny",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("shared")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.lr"] == "0.003"
    assert "test/f1_macro" in run.data.metrics and "val/f1_macro" in run.data.metrics
    # Artifacts are served by the server (proxied), stored under its artifact root.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "confusion_matrix.png", "test_metrics.json"} <= listed, listed
    stored = {p.name for p in (root / "artifacts").rglob("*") if p.is_file()}
    assert {"config.yaml", "confusion_matrix.png", "MLmodel", "model.safetensors"} <= stored
    # Nothing was written to a local store on the client's side.
    assert not (out / "mlflow.db").exists() and not (out / "artifacts").exists()

    versions = client.search_model_versions("name='shared-tiny'")
    assert [v.run_id for v in versions] == [run.info.run_id]
    # The registered model downloads from the server: a servable MLflow model folder.
    source = client.get_model_version_download_uri("shared-tiny", "1")
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=source, tracking_uri=url, dst_path=str(tmp_path / "download")
    )
    assert (Path(folder) / "MLmodel").is_file()
    assert run.data.tags["sft.model_uri"] == "models:/shared-tiny/1"
    assert "models:/shared-tiny/1" in done.stdout
