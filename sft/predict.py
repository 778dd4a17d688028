"""`sft-predict model_uri=... input=file.csv output=preds.csv`: batch prediction with a trained
model over a CSV/TSV/JSONL/Parquet file, or over lines from stdin.

The output holds the input's columns, then the predictions flattened into `pred_*` columns
(`pred_label`, `pred_probabilities_<label>`; regression: `pred_score`), in input order. The
input streams through in chunks of rows: read, predicted and written one chunk at a time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError

# sft-predict keys a generating task takes (max tokens, beam width).
GENERATION_KEYS = ("max_new_tokens", "num_beams")
# Input rows read, predicted and written at a time: memory holds one chunk (its token ids,
# records and output rows), whatever the input's size.
CHUNK_ROWS = 4096


def predict_task(cfg) -> None:
    """Resolve the model, then per chunk of CHUNK_ROWS input rows: read them, predict in
    batches, write their output rows (sft.inference.table_writer: a file appears whole when
    the last chunk is in; stdout gets each chunk's rows as they are predicted). Memory holds
    one chunk, whatever the input's size."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import PredictSchema, validate_app

    validate_app(cfg, PredictSchema)
    # lazy: torch, pandas and MLflow only once the config is known to be good
    from sft.inference.model_uri import resolve_model
    from sft.inference.table_writer import TableWriter
    from sft.inference.tables import input_chunks, output_kind

    output_kind(cfg.output)  # a bad output name fails before any work

    with tempfile.TemporaryDirectory(prefix="sft-predict-") as tmp:
        folder = resolve_model(cfg.model_uri, cfg.tracking_uri, Path(tmp))
        chunks = input_chunks(
            cfg.input,
            cfg.text_column,
            cfg.get("split"),
            media_dir=str(Path(tmp) / "media"),
            chunk_rows=CHUNK_ROWS,
        )
        done = {"rows": 0, "seconds": 0.0, "masks": []}
        with TableWriter(cfg.output) as writer:
            predictor = None
            for frame in chunks:
                inputs = _inputs(cfg, folder, frame, done["rows"] + 1)
                if predictor is None:  # after the first chunk's checks, as before streaming
                    predictor = _load(cfg, folder)
                writer.write(_predict_chunk(cfg, predictor, frame, inputs, done))
                done["rows"] += len(frame)
    where = "stdout" if cfg.output == "-" else cfg.output
    print(
        f"Predicted {done['rows']} examples in {done['seconds']:.1f}s ({predictor.task}, "
        f"{predictor.backend}) -> {where}",
        file=sys.stderr,
    )
    if done["masks"]:
        print(f"Wrote {len(done['masks'])} masks (PNG) -> {cfg.masks_dir}", file=sys.stderr)


def _inputs(cfg, folder, frame, start: int) -> list:
    """The model's inputs of one chunk of the input table (its first row: row `start`)."""
    from sft.inference.predictor import task_of  # lazy: as in predict_task
    from sft.inference.tables import STDIO, texts_of

    # A generating task reads whole rows (prompts, conversations): the task says how.
    input_rows = getattr(task_of(folder), "input_rows", None)
    if input_rows is not None:
        return input_rows(frame, str(cfg.input), stdin=cfg.input == STDIO, start=start)
    media_columns = list(frame.attrs.get("media_names", {}))
    column = cfg.text_column
    if column not in frame.columns and len(media_columns) == 1:
        column = media_columns[0]  # a dataset's one Image/Audio column: no key to type
    return texts_of(frame, column, cfg.input, start)


def _load(cfg, folder):
    """The predictor, and the check of masks_dir against its task."""
    from sft.inference.predictor import load  # lazy: as in predict_task

    predictor = load(folder, backend=str(cfg.backend))
    masks_dir = cfg.get("masks_dir")  # absent from configs composed before it existed
    if masks_dir and getattr(predictor.kind, "write_masks", None) is None:
        raise SFTConfigError(f"masks_dir: task '{predictor.task}' predicts no masks")
    return predictor


def _predict_chunk(cfg, predictor, frame, inputs: list, done: dict):
    """The output rows of one chunk: its input columns, then its `pred_*` columns."""
    from sft.inference.tables import STDIO, media_paths, prediction_columns  # lazy: as above

    if predictor.featurizer is not None and cfg.input != STDIO:
        inputs = media_paths(inputs, cfg.input)
    started = time.perf_counter()
    # Generating models only, passed when set (null: the model's own; a predictor of
    # another task refuses them in one line).
    settings = {key: cfg.get(key) for key in GENERATION_KEYS if cfg.get(key) is not None}
    records = predictor.predict(
        inputs, batch_size=cfg.batch_size, progress=cfg.progress, **settings
    )
    done["seconds"] += time.perf_counter() - started
    if cfg.get("masks_dir"):  # stems seen in earlier chunks number on (`<stem>-2.png`)
        done.setdefault("stems", Counter())
        done["masks"] += predictor.kind.write_masks(
            records, inputs, cfg.masks_dir, seen=done["stems"]
        )
    # A dataset's images or audio were read from files in a temporary folder: the output
    # names them as the dataset records them.
    media_names = frame.attrs.get("media_names", {})
    frame = frame.reset_index(drop=True)
    for column, names in media_names.items():
        frame[column] = names[done["rows"] : done["rows"] + len(frame)]
    return frame.join(prediction_columns(records))


def main() -> None:
    run_app(predict_task, config_name="predict", prog="sft-predict")


if __name__ == "__main__":
    main()
