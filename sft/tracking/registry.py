"""The Model Registry: one version per run worth shipping, tagged and described from its run.

Which runs register is decided in sft.training.run_outputs (`logger.register`); this module
writes the version: its tags say where it came from (run id and name, the test/ and best/
metrics, the data fingerprints `sft.data.*_sha256`, the task) and its description says the
same in a sentence, so the registry page answers "which run, on what data, how good" without
a click. The registered model gets a description when it has none (a user's stays).
"""

from __future__ import annotations

from sft.errors import SFTConfigError
from sft.tracking.provenance import label_tags
from sft.tracking.store import with_retry

METRIC_PREFIXES = ("test/", "best/")
ENSEMBLE_PREFIX = "ensemble/test/"  # a CV or seed parent's fold ensemble (sft.training.cv)
RUN_TAGS = (
    "sft.task",
    "sft.labels",
    "sft.labels_sha256",
    "sft.data",
    "sft.monitor",
    "sft.git_commit",
    "sft.overrides",
)


def served_metrics(run) -> dict[str, float]:
    """The metrics of the model `run` registers: its `test/` and `best/` metrics, or for a
    parent whose model is its fold ensemble, the ensemble's (`ensemble/test/acc` as
    `test/acc`), not the mean of the fold models' (the parent's own `test/`)."""
    metrics = run.data.metrics
    if any(k.startswith(ENSEMBLE_PREFIX) for k in metrics):
        return {
            "test/" + k[len(ENSEMBLE_PREFIX) :]: v
            for k, v in sorted(metrics.items())
            if k.startswith(ENSEMBLE_PREFIX)
        }
    return {k: v for k, v in sorted(metrics.items()) if k.startswith(METRIC_PREFIXES)}


def version_tags(run) -> dict[str, str]:
    """Tags for the version of `run`'s model: run id and name, the metrics of the model it
    serves (`served_metrics`), task, labels, data and its fingerprints."""
    tags = {"run_id": run.info.run_id, "run_name": run.info.run_name or ""}
    tags.update({k: f"{v:.6g}" for k, v in served_metrics(run).items()})
    tags.update(
        {
            k: v
            for k, v in sorted(run.data.tags.items())
            if k in RUN_TAGS or (k.startswith("sft.data.") and k.endswith("_sha256"))
        }
    )
    return tags


def version_description(run, tracking_uri: str | None = None) -> str:
    """One paragraph: what was fine-tuned on what (a fold ensemble: of how many models), how
    the model it serves scored (which scores its tuned decisions give), and the command that
    reruns it, with the store it is in (`tracking_uri`) so that it works as printed."""
    params, tags, metrics = run.data.params, run.data.tags, served_metrics(run)
    ensemble = any(k.startswith(ENSEMBLE_PREFIX) for k in run.data.metrics)
    members = int(run.data.metrics.get("cv/children", 0))
    what = f", an ensemble of {members} models (cv.ensemble)" if ensemble else ""
    lines = [
        f"{params.get('model.name_or_path', 'a model')} fine-tuned by sft on data "
        f"'{data_name(run)}' (task {tags.get('sft.task', 'unknown')}){what}; run "
        f"{run.info.run_name} ({run.info.run_id})."
    ]
    if metrics:
        lines.append("Scores: " + ", ".join(f"{k} = {v:.4f}" for k, v in metrics.items()) + ".")
    if any(k.endswith("_tuned") for k in metrics):
        lines.append("It decides with its tuned decisions: the `_tuned` scores are what it serves.")
    if tags.get("sft.overrides"):
        lines.append(f"Overrides: `{tags['sft.overrides']}`.")
    store = f" tracking_uri={tracking_uri}" if tracking_uri else ""
    # every sft run logs its config.yaml (a CV or seed parent too), which sft-reproduce reruns
    lines.append(f"Rerun and compare: `sft-reproduce run_id={run.info.run_id}{store}`.")
    return "\n\n".join(lines)


def data_name(run) -> str:
    """What data `run` trained on: its `sft.data` tag (data.name, or data.experiment for
    data=hf_dataset, whose data.name is the dataset's configuration), else data.name."""
    return run.data.tags.get("sft.data") or run.data.params.get("data.name", "unknown")


def model_description(run) -> str:
    """The registered model's description, from its first version's run."""
    return (
        f"{run.data.tags.get('sft.task', 'unknown')} model fine-tuned by sft on data "
        f"'{data_name(run)}'. Each version is one sft-train run (a sweep registers its best "
        f"run; a CV or seed run its fold ensemble); its tags hold the run id, the served "
        f"model's test/ and best/ metrics and the data fingerprints (sft.data.*_sha256)."
    )


def check_same_problem(client, name: str, task: str, labels: list[str]) -> None:
    """Refuse to add a version of another task or label set to the registered model `name`
    (its latest version's tags `sft.task` and `sft.labels_sha256`; a version from before
    they were recorded is compared by what it has). Nothing to compare: no such model yet.

    Raises SFTConfigError naming both problems and the key that names another model."""
    check_tags(client, name, {"sft.task": task, **label_tags(labels)})


def check_tags(client, name: str, tags: dict[str, str]) -> None:
    """`check_same_problem` with this run's tags (`sft.task`, `sft.labels`, `sft.labels_sha256`)."""
    quoted = f'"{name}"' if "'" in name else f"'{name}'"  # MLflow's filter: either quote
    versions = with_retry(client.search_model_versions, f"name = {quoted}")
    if not versions:
        return
    old = max(versions, key=lambda v: int(v.version)).tags
    differs = [
        key
        for key in ("sft.task", "sft.labels_sha256")
        if key in old and key in tags and old[key] != tags[key]
    ]
    if differs:
        raise SFTConfigError(
            f"logger.registered_model_name: registered model '{name}' is {_problem(old)}; "
            f"this run's is {_problem(tags)}, not a new version of it: give it a name of its "
            f"own (logger.registered_model_name=...)"
        )


def _problem(tags: dict[str, str]) -> str:
    """`a multiclass model of the labels negative, neutral, positive` (labels when known)."""
    labels = tags.get("sft.labels")
    return f"a {tags.get('sft.task', '?')} model" + (f" of the labels {labels}" if labels else "")


def register_run_model(client, run, model_uri: str, name: str) -> str:
    """Register `model_uri` (the model `run` logged) as a new version of `name`, with the tags
    and description above; tag the run with the version. Returns `models:/<name>/<version>`.

    Raises SFTConfigError when `name` holds another problem (`check_same_problem`), mlflow's
    MlflowException when the store refuses (after retries on a locked one)."""
    import mlflow  # lazy: mlflow.register_model only where a model is registered

    check_tags(client, name, run.data.tags)  # checked at the run's start too; a sweep's end
    mlflow.set_tracking_uri(client.tracking_uri)
    version = with_retry(mlflow.register_model, model_uri, name, tags=version_tags(run))
    with_retry(
        client.update_model_version,
        name,
        version.version,
        description=version_description(run, client.tracking_uri),
    )
    registered = with_retry(client.get_registered_model, name)
    if not registered.description:
        with_retry(client.update_registered_model, name, description=model_description(run))
    uri = f"models:/{name}/{version.version}"
    from mlflow.entities import RunTag  # lazy: as above

    with_retry(
        client.log_batch,
        run.info.run_id,
        tags=[RunTag("sft.model_uri", uri), RunTag("sft.registered_model", name)],
    )
    return uri
