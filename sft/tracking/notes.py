"""The Markdown descriptions sft writes in an MLflow store (`mlflow.note.content`, shown at the
top of an experiment's or a run's page) that are the tracker's own: an experiment's, and a
FAILED run's reason. A run's own description is sft.training.run_outputs.run_note."""

from __future__ import annotations

from sft.errors import SFTError, first_line

NOTE = "mlflow.note.content"  # MLflow's tag for a description
ERROR_TAG = "sft.error"  # a FAILED run's one-line reason


def experiment_note(name: str) -> str:
    """The description of an experiment sft creates (Markdown, shown on its page)."""
    return (
        f"Fine-tuning runs of `sft-train` on data '{name}'. Each run's description says "
        f"what it trained and how it scored; its charts lead with the learning curves; its "
        f"artifacts hold config.yaml, the test reports and the model. A sweep is a parent "
        f"run (tag `sft.sweep`) whose description is its leaderboard, with its jobs nested "
        f"under it. `sft-leaderboard` prints the same tables in a terminal."
    )


def failure_reason(error: BaseException) -> str:
    """The one line that says why a run failed: a user's error (sft.errors.SFTError) as sft
    prints it, anything else with its type (`RuntimeError: CUDA out of memory...`)."""
    if isinstance(error, SFTError):
        return first_line(error)
    return f"{type(error).__name__}: {first_line(error)}"


def failure_tags(error: BaseException) -> dict[str, str]:
    """The tags of a run that ended FAILED on `error`: the reason (`sft.error`) and a
    description that leads with it (the run's page shows it first)."""
    reason = failure_reason(error)
    return {ERROR_TAG: reason, NOTE: f"**FAILED**: {reason}"}


def ui_lines(tracking_uri: str, experiment_id: str | None) -> list[str]:
    """Where to look at an experiment's runs: the `mlflow ui` command for a local store and
    the page's address. `?workflowType=machine_learning` opens the runs table: without it a
    browser new to MLflow 3 opens the GenAI overview (traces), whatever the experiment's
    kind (MLflow 3.17, seen in headless Chromium)."""
    page = f"#/experiments/{experiment_id}?workflowType=machine_learning"
    if tracking_uri.startswith(("http://", "https://")):
        return [f"  compare runs: {tracking_uri.rstrip('/')}/{page}"]
    return [
        f"  compare runs: mlflow ui --backend-store-uri {tracking_uri}",
        f"    then open http://127.0.0.1:5000/{page}",
    ]
