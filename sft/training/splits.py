"""A logged run's data split read back (for `sft-export`'s agreement check): the run's
config.yaml artifact names the data files and the seed, so the validation split is carved
exactly as training carved it. The run is read through a tracker (sft.tracking.protocol)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from sft.config.instantiate import instantiate
from sft.errors import SFTError, first_line
from sft.tasks import family_of


def run_id_of(model_uri: str | None, run_id: str | None, tracker) -> str | None:
    """The training run behind `run_id` or `model_uri` (runs:/<id>/..., models:/<name>/<version>
    or models:/<name>@<alias> in `tracker`'s store); None for a plain folder or when the
    registry has no such version."""
    if run_id:
        return str(run_id)
    return tracker.run_of_model(str(model_uri or ""))


def split_inputs(run_id: str, tracker, split: str = "val") -> tuple[list[str], str]:
    """(texts or file paths of `split`, where they came from) for the run `run_id` of
    `tracker`'s store.

    Raises SFTError (or a subclass) with one line when the run has no config.yaml, its data
    files are gone or the split does not exist."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = tracker.download_artifact(run_id, "config.yaml", Path(tmp))
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
