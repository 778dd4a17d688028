"""What a CV or seed-repeat parent run (sft.training.cv) says about itself: its name, its
description on the MLflow run page (a mean ± std table, the out-of-fold and ensemble
figures) and the summary printed at its end (the same figures, the parent run and, for an
ensemble, the commands that predict with it and serve it)."""

from __future__ import annotations

import shlex
from pathlib import Path

from omegaconf import DictConfig

from sft.training.run_outputs import app_command

DIGITS = 4  # figures are rounded to this many decimals: 16 digits say nothing more
# The headline figures printed at the end, as a README or paper would quote them (the
# monitored metric's best value leads).
HEADLINE = (
    "test/acc",
    "test/f1_macro",
    "test/mse",
    "oof/acc",
    "oof/f1_macro",
    "oof/acc_tuned",
    "oof/f1_macro_tuned",
    "oof/ece",
    "oof/ece_calibrated",
    "ensemble/test/acc",
    "ensemble/test/f1_macro",
    "ensemble/test/acc_tuned",
    "ensemble/test/f1_macro_tuned",
    "ensemble/test/ece",
    "ensemble/test/mse",
)


def repeat_kind(cfg: DictConfig) -> str:
    """What the parent run is, as its name starts: `cv5` (5 folds), `seeds3` (3 seeds),
    `seeds2-cv5` (both), followed by `-ensemble` with cv.ensemble=true."""
    cv = cfg.get("cv") or {}
    parts = [f"seeds{len(cfg.seeds)}"] if cfg.get("seeds") else []
    parts += [f"cv{cv.folds}"] if cv.get("folds") else []
    parts += ["ensemble"] if cv.get("ensemble") else []
    return "-".join(parts)


def parent_note(
    cfg: DictConfig, kind: str, summary: dict, monitor: str, names: list[str], model_uri
) -> str:
    """The parent's description (Markdown): what ran, a headline (the run page shows the
    first lines only until "Show more"), a table of every val/test metric the children share
    (mean ± std, DIGITS decimals), the pooled out-of-fold figures, the ensemble's test
    figures and where its model is."""
    what = "fold" if kind == "cv" else "seed"
    lines = [
        f"**{cfg.model.name_or_path}** on **{cfg.data.name}**: {len(names)} {what} runs "
        f"({', '.join(names)}); each figure is their mean ± std."
    ]
    headline = [
        f"{k} **{summary[k]:.{DIGITS}f} ± {summary[k + '_std']:.{DIGITS}f}**"
        for k in (f"best/{monitor}", "test/acc", "test/f1_macro", "test/mse")
        if k + "_std" in summary
    ]
    headline += [
        f"{k} **{summary[k]:.{DIGITS}f}**"
        for k in ("ensemble/test/acc", "ensemble/test/f1_macro", "ensemble/test/mse")
        if k in summary
    ]
    if headline:
        lines.append(" · ".join(headline))
    means = [
        k
        for k in summary
        if k + "_std" in summary
        and k.split("/")[0] in ("best", "val", "test", "decisions")
        and "/per_class/" not in k
    ]
    means.sort(key=lambda k: (not k.startswith("best/"), k.split("/")[0] != "test", k))
    if means:
        rows = [
            f"| {k} | {summary[k]:.{DIGITS}f} ± {summary[k + '_std']:.{DIGITS}f} |" for k in means
        ]
        lines.append("\n".join(["| metric | mean ± std |", "|---|---|", *rows]))
    for prefix, title in (
        ("oof/", "Out-of-fold (every train row once)"),
        ("ensemble/", "Ensemble"),
    ):
        figures = [
            f"{k[len(prefix) :]} {v:.{DIGITS}f}"
            for k, v in sorted(summary.items())
            if k.startswith(prefix)
        ]
        if figures:
            lines.append(f"**{title}**: " + " · ".join(figures))
    if model_uri:
        lines.append(f"Model (the ensemble of the {len(names)} runs): `{model_uri}`")
    return "\n\n".join(lines)


def print_repeat_summary(
    kind: str, summary: dict, monitor: str, run_dir: Path, tracker, model_uri: str | None
) -> None:
    """The headline figures (mean ± std), where the parent run is and, for an ensemble, the
    sft-predict and sft-serve commands of its model."""
    keys = [f"best/{monitor}", *HEADLINE]
    lines = [
        f"{key}: {summary[key]:.{DIGITS}f}"
        + (f" +- {summary[key + '_std']:.{DIGITS}f}" if key + "_std" in summary else "")
        for key in keys
        if key in summary
    ]
    lines += [line.strip() for line in tracker.describe()]
    if tracker.run_id:
        lines.append(f"parent run: {tracker.run_id}")
    if model_uri:
        uri = shlex.quote(model_uri)
        where = f" tracking_uri={shlex.quote(tracker.tracking_uri)}" if tracker.tracking_uri else ""
        lines += [
            f"ensemble model: {model_uri}",
            f"  predict: {app_command('sft-predict')} model_uri={uri}{where} "
            f"input=inputs.csv output=predictions.csv",
            f"  serve: {app_command('sft-serve')} model_uri={uri}{where} port=5000",
        ]
    print(
        f"== {kind} summary over {int(summary['cv/children'])} runs ({run_dir}):\n  "
        + "\n  ".join(lines)
    )
