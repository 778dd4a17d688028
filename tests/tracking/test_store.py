"""A new SQLite tracking store is built in memory-backed scratch space and moved into place;
an existing one is opened as it is."""

from __future__ import annotations

import sqlite3

import pytest

from sft.config.uris import absolute_tracking_uri
from sft.tracking import store


def test_a_new_store_is_complete_and_usable(tmp_path):
    db = tmp_path / "outputs" / "mlflow.db"
    client = store.open_client(absolute_tracking_uri(f"sqlite:///{db}"))
    experiment = client.create_experiment("exp")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "loss", 0.5)
    # A fresh process's view: the file itself holds the schema MLflow verifies on opening.
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    again = SqlAlchemyStore(f"sqlite:///{db}", str(tmp_path / "artifacts"))
    assert again.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]


def test_an_existing_store_is_not_replaced(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = store.open_client(uri)
    experiment = first.create_experiment("kept")
    store.open_client(uri)
    with sqlite3.connect(tmp_path / "mlflow.db") as connection:
        names = [row[0] for row in connection.execute("select name from experiments")]
    assert "kept" in names and experiment


def test_without_scratch_space_the_store_is_built_in_place(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SCRATCH", str(tmp_path / "no-such-folder"))
    client = store.open_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.create_experiment("exp")


@pytest.mark.parametrize("scratch", ["real", "missing"])
def test_the_default_experiment_points_where_mlflow_would_put_it(tmp_path, monkeypatch, scratch):
    """Built in scratch or in place, the store's Default experiment is the same."""
    if scratch == "missing":
        monkeypatch.setattr(store, "SCRATCH", str(tmp_path / "no-such-folder"))
    monkeypatch.chdir(tmp_path)
    client = store.open_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")
