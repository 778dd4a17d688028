"""A model folder that averages the probabilities of several member models (the fold or
seed models of a CV run, `cv.ensemble=true`): `members/<name>/` (each a whole model folder)
and `sft_model.json` with `members` (their paths, relative) and the shared task and labels.

`sft.load` returns an `EnsemblePredictor` for it, so `sft-predict`, the MLflow model and
`mlflow models serve` use it like any model. Classification: the mean of the members'
probabilities (each as its own predictor gives them, so whatever a member's spec applies to
its probabilities applies before averaging); regression: the mean of the members' values.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sft.errors import SFTConfigError
from sft.model.saving import FORMAT, read_spec, write_spec
from sft.tasks import get_task

MEMBERS_DIR = "members"


def build_ensemble(member_dirs: dict[str, Path], out_dir: Path, rules: dict | None = None) -> Path:
    """Copy each member folder (name -> folder) into `out_dir/members/<name>` and write the
    ensemble's spec, with `rules` (class_bias or thresholds, the task's decision rules) applied to
    the averaged probabilities. SFTConfigError when the members disagree on the task or
    labels."""
    out_dir = Path(out_dir)
    specs = {name: read_spec(folder) for name, folder in member_dirs.items()}
    first = next(iter(specs.values()))
    for name, spec in specs.items():
        if (spec["task"], spec.get("labels")) != (first["task"], first.get("labels")):
            raise SFTConfigError(
                f"ensemble member {name}: task/labels {spec['task']} "
                f"{spec.get('labels')} differ from {first['task']} "
                f"{first.get('labels')}"
            )
    members = []
    for name, folder in member_dirs.items():
        target = out_dir / MEMBERS_DIR / name.replace("/", "-")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder, target)
        members.append(str(target.relative_to(out_dir)))
    spec = {
        "format": FORMAT,
        "task": first["task"],
        "labels": first.get("labels"),
        "max_length": first["max_length"],
        "num_outputs": first["num_outputs"],
        "modality": first.get("modality", "text"),
        "members": members,
        "combine": "mean_probability",
        **(rules or {}),
    }
    write_spec(spec, out_dir)
    return out_dir


class EnsemblePredictor:
    """Predicts like sft.inference.predictor.Predictor, from the mean of its members'."""

    def __init__(self, folder: Path, spec: dict, members: list):
        self.folder = Path(folder)
        self.spec = spec
        self.task = spec["task"]
        self.kind = get_task(self.task)
        self.labels = list(spec.get("labels") or [])
        self.members = members
        self.backend = members[0].backend
        self.featurizer = members[0].featurizer  # images/audio: sft-predict reads file paths
        self.max_length = int(spec["max_length"])

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Mean member probability per label, [len(texts), labels] (regression: the mean
        value, [len(texts), 1]): the task's `combine` of the members' records."""
        return self.kind.combine(
            [member.predict(texts, batch_size) for member in self.members], self.labels
        )

    def logits(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """The ensemble's combined outputs: `probabilities` (what sft-export's parity check
        compares between a model and its copy)."""
        return self.probabilities(texts, batch_size)

    def predict(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False, **settings
    ) -> list[dict]:
        """One record per text, the same fields as a single model's. `settings` (a generating
        task's max_new_tokens, num_beams): SFTConfigError, an ensemble does not generate."""
        given = [key for key, value in settings.items() if value is not None]
        if given:
            raise SFTConfigError(
                f"{', '.join(given)}: an ensemble of '{self.task}' models does not generate"
            )
        mean = self.probabilities(texts, batch_size)
        # the ensemble's tuned rules, else the members' single threshold (multilabel) or 0.5
        rules = {"threshold": self.members[0].spec.get("threshold"), **self.spec}
        return self.kind.combined_records(mean, self.labels, rules)

    def explain(self, inputs, target=None, **settings) -> list[dict]:
        """Refused: an explanation follows one network's gradients, and the ensemble's
        output is a mean of probabilities, not a logit (explain a member's folder)."""
        raise SFTConfigError(
            f"{self.folder}: explanations are not available for an ensemble; explain one of "
            f"its members ({self.folder / MEMBERS_DIR}/<name>)"
        )


def load_ensemble(folder: Path, spec: dict, loader, **options) -> EnsemblePredictor:
    """The EnsemblePredictor of an ensemble folder; `loader` loads one member folder
    (sft.load, passed in: it is the function that calls this one)."""
    members = []
    for relative in spec["members"]:
        path = (Path(folder) / relative).resolve()
        if Path(folder).resolve() not in path.parents:
            raise SFTConfigError(f"{folder}: ensemble member {relative} lies outside the folder")
        members.append(loader(path, **options))
    if not members:
        raise SFTConfigError(f"{folder}: the ensemble has no members")
    return EnsemblePredictor(folder, spec, members)
