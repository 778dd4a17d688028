"""A logged run's data split read back (for `sft-export`'s agreement check): the run's
config.yaml artifact names the data files and the seed, so the validation split is carved
exactly as training carved it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from sft.tasks import family_of
from sft.config.instantiate import instantiate
from sft.errors import SFTError, first_line


def run_id_of(model_uri: str | None, run_id: str | None, tracking_uri: str) -> str | None:
    """The training run behind `run_id` or `model_uri` (runs:/<id>/..., models:/<name>/<version>
    or models:/<name>@<alias>); None for a plain folder or when the registry has no such
    version."""
    if run_id:
        return str(run_id)
    uri = str(model_uri or "")
    if uri.startswith("runs:/"):
        return uri[len("runs:/"):].split("/", 1)[0]
    if not uri.startswith("models:/"):
        return None
    from mlflow import MlflowClient  # lazy: as in sft.inference.model_uri

    name_version = uri[len("models:/"):].strip("/")
    client = MlflowClient(tracking_uri)
    try:
        if "@" in name_version:
            name, alias = name_version.split("@", 1)
            return client.get_model_version_by_alias(name, alias).run_id
        name, version = name_version.rsplit("/", 1)
        return client.get_model_version(name, version).run_id
    except Exception:  # MlflowException, ValueError: not a version we can name
        return None


def split_inputs(run_id: str, tracking_uri: str, split: str = "val") -> tuple[list[str], str]:
    """(texts or file paths of `split`, where they came from) for the run `run_id`.

    Raises SFTError (or a subclass) with one line when the run has no config.yaml, its data
    files are gone or the split does not exist."""
    from mlflow import MlflowClient  # lazy: as above

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = MlflowClient(tracking_uri).download_artifacts(run_id, "config.yaml", tmp)
        except Exception as err:  # MlflowException or OSError: no such artifact
            raise SFTError(f"run {run_id} has no config.yaml ({first_line(err)})") from None
        cfg = OmegaConf.create(Path(path).read_text())
    try:
        datamodule = instantiate(cfg.data, seed=cfg.seed)
        datamodule.load(family_of(str(cfg.data.get("task", "auto"))))
    except (SFTError, OSError, KeyError, ValueError) as err:
        raise SFTError(f"run {run_id}: cannot read its data again ({first_line(err)})") from None
    if split not in datamodule.examples:
        raise SFTError(f"run {run_id} has no {split} split")
    examples = datamodule.examples[split]
    return list(examples.texts), f"the {split} split of run {run_id} ({examples.source})"
