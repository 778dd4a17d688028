"""The model card saved with every model: `README.md` in the model folder (so it travels with
the folder, the MLflow model and every export) and as a run artifact.

Hugging Face model-card format: YAML front matter (base_model, pipeline_tag, labels,
datasets, model-index with the test metrics) and a Markdown body. Everything in it comes from
the run that saved the model (its config, overrides, test report and data), written after the
test, so it cannot go stale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from omegaconf import DictConfig

from sft.config.schema import GROUPS, cfg_choice
from sft.inference.ensemble import MEMBERS_DIR as MEMBERS
from sft.inference.hf_card import transformers_lines
from sft.model.saving import read_spec
from sft.tracking.reports import markdown_table, measure_table, per_class_table

CARD_FILE = "README.md"
IMBALANCE_RATIO = 3.0  # largest class / smallest class in train above which the card warns


def write_model_card(
    model_dir: Path,
    cfg: DictConfig,
    datamodule,
    module,
    test_metrics: dict,
    best_score: float | None,
    run_id: str | None,
    overrides: list[str] | None,
    registered_name: str | None,
) -> Path:
    """Write `model_dir/README.md` from the run's own records; return its path.

    `test_metrics`: the logged test metrics ({"test/acc": float, ...}), copied into the
    model-index exactly; `overrides`: the command line's overrides, secrets masked (None
    outside the sft-train command line)."""
    modality = getattr(datamodule, "modality", "text")
    labels = list(datamodule.labels.names or [])
    task = datamodule.labels.task
    pipeline_tag = datamodule.labels.kind.pipeline_tags.get(modality, "text-classification")
    front = {
        "base_model": str(cfg.model.name_or_path),
        "pipeline_tag": pipeline_tag,
        "library_name": "sft",
        "tags": ["sft", task, f"finetune-{cfg_choice(cfg, 'finetune')}"],
        "datasets": [str(cfg.data.name)],
        "labels": labels,
        "model-index": [
            {
                "name": registered_name or f"{cfg.data.name}-model",
                "results": [
                    {
                        "task": {"type": pipeline_tag, "name": task},
                        "dataset": {
                            "name": str(cfg.data.name),
                            "type": str(cfg.data.name),
                            "split": "test",
                        },
                        "metrics": [
                            {"type": key.split("/", 1)[-1], "name": key, "value": float(value)}
                            for key, value in sorted(test_metrics.items())
                        ],
                    }
                ],
            }
        ]
        if test_metrics
        else [],
    }
    command = "sft-train " + " ".join(overrides) if overrides else None
    body = [
        f"# {registered_name or cfg.data.name}",
        "",
        f"A {task} model ({modality}) fine-tuned with sft from `{cfg.model.name_or_path}` on "
        f"the `{cfg.data.name}` data" + (f"; labels: {', '.join(labels)}." if labels else "."),
        f"MLflow run: `{run_id}`." if run_id else "Not tracked in MLflow (logger=none).",
        "",
        "## Training",
        "",
        f"Command: `{command}`"
        if command
        else "Command: not started from the sft-train command line (composed by a caller); the "
        "choices below are what it resolved to.",
        "",
        "Resolved choices: "
        + ", ".join(f"{g}={cfg_choice(cfg, g)}" for g in groups_used(datamodule.labels.kind))
        + f", seed={cfg.seed}, max_length={cfg.model.max_length}.",
    ]
    if overrides:
        body += ["", "Overrides:", "", *[f"- `{o}`" for o in overrides]]
    if best_score is not None:
        body += ["", f"Best validation {cfg.monitor.metric}: {best_score:.4f}."]
    body += ["", "## Test results", ""]
    if test_metrics:
        body += [
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {float(v):.4f} |" for k, v in sorted(test_metrics.items())],
        ]
    else:
        body.append("No test split: the model was not tested.")
    if "f1" in getattr(module, "test_report", {}):
        body += [
            "",
            "Per class:",
            "",
            markdown_table(
                per_class_table(module.task.class_names(module.label_names), module.test_report)
            ),
        ]
    elif "table" in getattr(module, "test_report", {}):
        body += ["", "Per class:", "", markdown_table(measure_table(module.test_report), "absent")]
    body += ["", "## Data", "", *data_lines(datamodule, int(cfg.model.max_length))]
    task_kind = datamodule.labels.kind
    # A family with more to say (a causal LM: what it was tuned on, how it was evaluated,
    # how to prompt it) writes its own sections and usage.
    family_lines = getattr(task_kind, "card_lines", None)
    if family_lines is not None:
        body += ["", *family_lines(cfg, datamodule, module, test_metrics)]
    family_usage = getattr(task_kind, "usage_lines", None)
    if family_usage is not None:  # its usage covers transformers alone too (prompting)
        body += ["", *family_usage(model_uri_hint(run_id, registered_name), datamodule)]
    else:
        body += ["", *usage_lines(run_id, registered_name, modality, task_kind)]
        body += transformers_lines(Path(model_dir))
    path = Path(model_dir) / CARD_FILE
    path.write_text(
        "---\n"
        + yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
        + "---\n\n"
        + "\n".join(body)
        + "\n"
    )
    return path


def data_lines(datamodule, max_length: int) -> list[str]:
    """Split sizes, then the warnings: truncation, label imbalance, texts shared by splits."""
    examples = datamodule.examples
    lines = ["Splits: " + ", ".join(f"{s} {len(e)}" for s, e in examples.items()) + "."]
    warnings = []
    text = getattr(datamodule, "modality", "text") == "text"  # token lengths (audio: durations)
    # lengths before truncation (sft.data.module): exactly max_length tokens is not cut
    counted = getattr(datamodule, "untruncated_lengths", None) if text else None
    for split, lengths in counted().items() if counted else ():
        share = float(np.mean(lengths > max_length)) if len(lengths) else 0.0
        if share > 0:
            warnings.append(
                f"truncation: {share:.1%} of the {split} texts are longer than "
                f"max_length={max_length} tokens and were cut"
            )
    # labels (not transcripts): their balance matters
    if not datamodule.labels.kind.continuous_targets and datamodule.labels.names:
        counts = datamodule.class_counts()
        names = datamodule.labels.names
        smallest = max(int(counts.min()), 1)
        if counts.max() / smallest >= IMBALANCE_RATIO:
            warnings.append(
                "label imbalance in train: "
                + ", ".join(f"{n} {int(c)}" for n, c in zip(names, counts))
                + f" (largest/smallest {counts.max() / smallest:.1f}x)"
            )
    splits = {s: set(e.texts) for s, e in examples.items()}
    order = list(splits)
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            shared = len(splits[a] & splits[b])
            if shared:
                warnings.append(f"leakage: {shared} exact duplicate inputs in both {a} and {b}")
    lines += (
        ["", "Warnings:", "", *[f"- {w}" for w in warnings]]
        if warnings
        else [
            "",
            "Warnings: none (no truncation, label imbalance under "
            f"{IMBALANCE_RATIO:g}x, no input in two splits).",
        ]
    )
    return lines


def groups_used(task) -> list[str]:
    """The config groups that made the model: all of them, but head and loss for a whole
    task model (detection, segmentation: its own head and loss)."""
    if task.auto_class is None:
        return list(GROUPS)
    return [g for g in GROUPS if g not in ("head", "loss")]


def model_uri_hint(run_id: str | None, registered_name: str | None) -> str:
    """The URI the card's commands name: the registered model's, else the run's."""
    if registered_name:
        return f"models:/{registered_name}/<version>"
    return f"runs:/{run_id}/model" if run_id else "<this folder>"


def usage_lines(run_id: str | None, registered_name: str | None, modality: str, task) -> list[str]:
    """Intended use, limitations and how to load, predict with, serve and export the model
    (ONNX only where the task supports it)."""
    uri = model_uri_hint(run_id, registered_name)
    sample = "'some text'" if modality == "text" else "'path/to/file'"
    pipeline_tag = task.pipeline_tags.get(modality, "text-classification")
    if task.supports("int8"):
        export = f"sft-export model_uri={uri} format=onnx quantize=int8 out=exports/int8"
    elif task.supports("onnx"):
        export = f"sft-export model_uri={uri} format=onnx out=exports/onnx"
    else:
        export = f"sft-export model_uri={uri} format=folder out=exports/model"
    if modality != "text":  # the parity check runs the model on files, which sft-export needs
        export += " parity_texts=[path/to/file]"
    return [
        "## Intended use and limitations",
        "",
        f"Made for {pipeline_tag.replace('-', ' ')} of {modality} inputs like those of its "
        "training data, with the labels above. It has only seen that data: expect lower "
        "quality on other domains, "
        "languages or lengths, and read the warnings above. The test figures are one split "
        "and one seed; they are not a guarantee. Not for decisions about people without "
        "human review.",
        "",
        "## How to use",
        "",
        "```bash",
        f"python -c \"import sft; print(sft.load('<this folder>').predict([{sample}]))\"",
        f"sft-predict model_uri={uri} input=inputs.csv output=predictions.csv",
        f"mlflow models serve -m {uri} --env-manager local -p 5000",
        export,
        "```",
    ]


def write_ensemble_card(
    model_dir: Path,
    cfg: DictConfig,
    task,
    members: list[str],
    metrics: dict,
    run_id: str | None,
    registered_name: str | None,
) -> Path:
    """Write `model_dir/README.md` for a fold or seed ensemble (sft.training.ensemble_run):
    what it is (its members, how they are combined, its decision rules), the parent run's
    metrics (`ensemble/test/*`, `oof/*`) and how to use it; the members keep their own cards.
    `task`: the Task of the members; `metrics`: what the parent logged for the ensemble."""
    spec = read_spec(model_dir)
    labels, modality = list(spec.get("labels") or []), spec.get("modality", "text")
    pipeline_tag = task.pipeline_tags.get(modality, "text-classification")
    kind = "fold" if cfg.cv.get("folds") else "seed"
    front = {
        "base_model": str(cfg.model.name_or_path),
        "pipeline_tag": pipeline_tag,
        "library_name": "sft",
        "tags": ["sft", task.name, f"{kind}-ensemble"],
        "datasets": [str(cfg.data.name)],
        "labels": labels,
    }
    rules = [k for k in ("temperature", "class_bias", "thresholds") if spec.get(k) is not None]
    body = [
        f"# {registered_name or cfg.data.name} ({kind} ensemble)",
        "",
        f"A {kind} ensemble of {len(members)} {task.name} models ({modality}) fine-tuned with "
        f"sft from `{cfg.model.name_or_path}` on the `{cfg.data.name}` data: "
        + ", ".join(f"`{m}`" for m in members)
        + f" (each a whole model folder with its own card, under `{MEMBERS}/`). It predicts "
        "the mean of its members' probabilities (regression: values)"
        + (f", decided by its own {', '.join(rules)}." if rules else "."),
        f"MLflow run (the parent): `{run_id}`." if run_id else "Not tracked in MLflow.",
        f"Rerun: `sft-reproduce run_id={run_id}`." if run_id else "",
        "",
        "## Test results",
        "",
    ]
    shown = {k: v for k, v in sorted(metrics.items()) if k.startswith(("ensemble/", "oof/"))}
    body += (
        [
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {float(v):.4f} |" for k, v in shown.items()],
        ]
        if shown
        else ["No test split: the ensemble was not tested."]
    )
    body += ["", *usage_lines(run_id, registered_name, modality, task)]
    path = Path(model_dir) / CARD_FILE
    path.write_text(
        "---\n"
        + yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
        + "---\n\n"
        + "\n".join(body)
        + "\n"
    )
    return path
