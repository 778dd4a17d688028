"""`sft-explain model_uri=... input=file.csv`: which words made a trained text model's
predictions (integrated gradients on the input embeddings, sft.inference.explain), written as
an HTML page of highlighted words, a CSV of word scores and a per-class view of the words
with the highest mean score (sft.inference.explain_report); for an image or audio model
(input: a folder or a table of file paths), a PNG per file (heat map; scores over time) and
a CSV (sft.inference.explain_media, explain_media_report); `log=true` logs them as an MLflow
run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError, SFTDataError


def explain_task(cfg) -> None:
    """Resolve the model, read the texts, explain each, write (and log) the page and tables."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import ExplainSchema, validate_app

    validate_app(cfg, ExplainSchema)
    # lazy: torch, captum, pandas and MLflow only once the config is known to be good
    from sft.inference import explain_media_report, explain_report
    from sft.inference.model_uri import resolve_model
    from sft.inference.predictor import TORCH_WEIGHTS, load, model_folder
    from sft.inference.tables import media_paths, read_input, texts_of
    from sft.model.saving import read_spec

    with tempfile.TemporaryDirectory(prefix="sft-explain-") as tmp:
        folder = resolve_model(cfg.model_uri, cfg.tracking_uri, Path(tmp))
        frame = read_input(cfg.input, cfg.text_column, cfg.get("split"))
        texts = texts_of(frame, cfg.text_column, cfg.input)[: cfg.limit]
        if not texts:  # blank lines only (stdin, or a file pandas reads as no rows)
            source = "stdin" if cfg.input == "-" else cfg.input
            raise SFTDataError(f"input: no text to explain in {source} (only blank lines)")
        folder = model_folder(folder)
        weights = any((folder / name).is_file() for name in TORCH_WEIGHTS)
        if not weights and not read_spec(folder).get("members"):  # an ensemble refuses later
            raise SFTConfigError(
                f"{folder}: no PyTorch weights ({TORCH_WEIGHTS[0]}): explanations follow the "
                "network's gradients, which an ONNX-only folder does not give"
            )
        predictor = load(folder)
        if predictor.featurizer is not None:  # file paths: relative ones to the table's folder
            texts = media_paths(texts, cfg.input)
        started = time.perf_counter()
        explanations = predictor.explain(
            texts,
            target=cfg.target,
            n_steps=cfg.n_steps,
            baseline=getattr(cfg.baseline, "name", cfg.baseline),
            internal_batch_size=cfg.internal_batch_size,
            progress=cfg.progress,
        )
        seconds = time.perf_counter() - started
    rows = list(frame.index[: len(texts)])
    report = {
        "title": f"Explanations of {cfg.model_uri}",
        "ids": rows,
        "headings": [f"row {row}" for row in rows],
    }
    if predictor.featurizer is None:
        paths = explain_report.write(explanations, Path(cfg.out_dir), top=cfg.top_words, **report)
    else:
        paths = explain_media_report.write(explanations, Path(cfg.out_dir), **report)
    kind = {"image": "images", "audio": "clips"}.get(predictor.spec.get("modality"), "texts")
    worst = max((abs(e["delta"]) for e in explanations), default=0.0)
    print(
        f"Explained {len(texts)} {kind} in {seconds:.1f}s ({seconds / max(len(texts), 1):.2f}s "
        f"each, {cfg.n_steps} steps, largest |delta| {worst:.2e}) -> {paths[0]}",
        file=sys.stderr,
    )
    if cfg.log:
        run_id = log_explanations(cfg, paths, seconds, len(texts), worst)
        print(f"Logged to MLflow run {run_id} ({cfg.experiment})", file=sys.stderr)


def log_explanations(cfg, paths: list[Path], seconds: float, count: int, worst: float) -> str:
    """A run of `cfg.experiment` holding the page and tables under `explanations/`, the
    settings as params and the cost and largest |delta| as metrics; its id."""
    from sft.tracking.mlflow_tracker import MLflowTracker  # lazy: MLflow only when logging

    tracker = MLflowTracker(cfg.tracking_uri, experiment_name=cfg.experiment)
    tags = {"sft.explain.model_uri": str(cfg.model_uri)}
    with tracker.run(cfg.experiment, tags, None, "explain"):
        tracker.log_params(
            {
                "model_uri": str(cfg.model_uri),
                "input": str(cfg.input),
                "target": str(cfg.target),
                "n_steps": str(cfg.n_steps),
                "baseline": str(getattr(cfg.baseline, "name", cfg.baseline)),  # None: default
            }
        )
        tracker.log_metrics(
            {"explain/texts": count, "explain/seconds_per_text": seconds / max(count, 1),
             "explain/max_abs_delta": worst}
        )  # fmt: skip
        for path in paths:
            tracker.log_artifact(path, "explanations")
    return tracker.run_id


def main() -> None:
    run_app(explain_task, config_name="explain", prog="sft-explain")


if __name__ == "__main__":
    main()
