"""`sft-predict model_uri=... input=file.csv output=preds.csv`: batch prediction with a trained
model over a CSV/TSV/JSONL/Parquet file, or over lines from stdin.

The output holds the input's columns, then the predictions flattened into `pred_*` columns
(`pred_label`, `pred_probabilities_<label>`; regression: `pred_score`), in input order.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError

# sft-predict keys a generating task takes (max tokens, beam width).
GENERATION_KEYS = ("max_new_tokens", "num_beams")


def predict_task(cfg) -> None:
    """Resolve the model, read the texts, predict in batches, write the table."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import PredictSchema, validate_app

    validate_app(cfg, PredictSchema)
    # lazy: torch, pandas and MLflow only once the config is known to be good
    from sft.inference.model_uri import resolve_model
    from sft.inference.predictor import load, task_of
    from sft.inference.tables import (
        STDIO,
        media_paths,
        output_kind,
        prediction_columns,
        read_input,
        texts_of,
        write_output,
    )

    output_kind(cfg.output)  # a bad output name fails before any work

    with tempfile.TemporaryDirectory(prefix="sft-predict-") as tmp:
        folder = resolve_model(cfg.model_uri, cfg.tracking_uri, Path(tmp))
        frame = read_input(
            cfg.input, cfg.text_column, cfg.get("split"), media_dir=str(Path(tmp) / "media")
        )
        # A generating task reads whole rows (prompts, conversations): the task says how.
        input_rows = getattr(task_of(folder), "input_rows", None)
        if input_rows is not None:
            texts = input_rows(frame, str(cfg.input), stdin=cfg.input == STDIO)
        else:
            media_columns = list(frame.attrs.get("media_names", {}))
            column = cfg.text_column
            if column not in frame.columns and len(media_columns) == 1:
                column = media_columns[0]  # a dataset's one Image/Audio column: no key to type
            texts = texts_of(frame, column, cfg.input)
        predictor = load(folder, backend=str(cfg.backend))
        write_masks = getattr(predictor.kind, "write_masks", None)  # masks as image files
        masks_dir = cfg.get("masks_dir")  # absent from configs composed before it existed
        if masks_dir and write_masks is None:
            raise SFTConfigError(f"masks_dir: task '{predictor.task}' predicts no masks")
        if predictor.featurizer is not None and cfg.input != STDIO:
            texts = media_paths(texts, cfg.input)
        started = time.perf_counter()
        # Generating models only, passed when set (null: the model's own; a predictor of
        # another task refuses them in one line).
        settings = {key: cfg.get(key) for key in GENERATION_KEYS if cfg.get(key) is not None}
        records = predictor.predict(
            texts, batch_size=cfg.batch_size, progress=cfg.progress, **settings
        )
        seconds = time.perf_counter() - started
        written = write_masks(records, texts, masks_dir) if masks_dir else []
    # A dataset's images or audio were read from files in `tmp`: the output names them as
    # the dataset records them.
    for column, names in frame.attrs.get("media_names", {}).items():
        frame[column] = names
    table = frame.reset_index(drop=True).join(prediction_columns(records))
    write_output(table, cfg.output)
    where = "stdout" if cfg.output == STDIO else cfg.output
    print(
        f"Predicted {len(texts)} examples in {seconds:.1f}s ({predictor.task}, "
        f"{predictor.backend}) -> {where}",
        file=sys.stderr,
    )
    if written:
        print(f"Wrote {len(written)} masks (PNG) -> {masks_dir}", file=sys.stderr)


def main() -> None:
    run_app(predict_task, config_name="predict", prog="sft-predict")


if __name__ == "__main__":
    main()
