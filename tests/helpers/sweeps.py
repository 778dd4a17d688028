"""Reading a sweep back from MLflow: its one parent run and the child run of each job."""

from __future__ import annotations

from conftest import mlflow_runs


def parent_and_children(out, experiment="text_csv"):
    """(client, parent run, child runs) of the one sweep logged under `out`; asserts there is
    exactly one parent."""
    client, runs = mlflow_runs(out, experiment)
    parents = [r for r in runs if r.data.tags.get("sft.sweep") == "true"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return client, parent, children
