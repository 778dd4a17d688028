"""Tables in and out of batch prediction (`sft-predict`): read the texts (a data file, stdin
lines, or a folder of image/audio files), and write the input's columns plus `pred_*` columns
as CSV/TSV/JSONL/Parquet or JSON lines on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sft.data.hf_sources import is_saved_dataset, read_split
from sft.data.media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from sft.data.sources import locate, read_table
from sft.errors import SFTConfigError, SFTDataError

WRITERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
STDIO = "-"


def read_input(
    source: str, text_column: str, split: str | None = None, media_dir: str | None = None
):
    """The input table: a data file, one text per non-empty line of stdin, a 🤗 dataset's
    split (a save_to_disk folder; a local dataset folder or hub id when `split` is given;
    sft.data.hf_sources: its images or audio as file paths, embedded bytes written under
    `media_dir`), or a folder of images or audio files (one row per file, its path in
    `text_column`)."""
    if source == STDIO:
        lines = [line.rstrip("\r\n") for line in sys.stdin]
        return pd.DataFrame({text_column: [line for line in lines if line.strip()]})
    if split is not None or is_saved_dataset(source):
        return read_split(source, split, media_dir=media_dir)
    if Path(source).expanduser().is_dir():
        folder = Path(source).expanduser()
        files = sorted(
            str(f.resolve())
            for f in folder.rglob("*")
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS + AUDIO_EXTENSIONS
        )
        if not files:
            raise SFTDataError(f"input: the folder {folder} holds no image or audio files")
        return pd.DataFrame({text_column: files})
    return read_table(locate(str(source), "input"), "input")


def texts_of(frame, text_column: str, source: str) -> list[str]:
    """The texts of `text_column`; SFTDataError naming the row of a missing one."""
    if text_column not in frame.columns:
        raise SFTDataError(
            f"text_column: no column '{text_column}' in {source} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    texts = []
    for row, value in enumerate(frame[text_column], start=1):
        text = "" if _missing(value) else str(value)
        if not text.strip():
            raise SFTDataError(f"{source} row {row}: empty text in column '{text_column}'")
        texts.append(text)
    return texts


def media_paths(paths: list[str], source: str) -> list[str]:
    """Image or audio paths of a table, relative ones read from the table's folder (as in
    training)."""
    base = Path(source).expanduser()
    base = base if base.is_dir() else base.parent
    return [p if Path(p).expanduser().is_absolute() else str(base / p) for p in paths]


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or dict in a JSON cell: not missing
        return False


def prediction_columns(records: list[dict]):
    """Prediction records as `pred_*` columns: a field holding a dict of numbers is spread
    into columns joined with `_` (`pred_probabilities_positive`); a field holding a
    structure (a segmentation mask's RLE: size, counts, values) stays one cell, so that it
    reads back as the record had it (`decode_rle(json.loads(row["pred_mask"]))`)."""
    whole = {
        key
        for record in records
        for key, value in record.items()
        if isinstance(value, dict) and any(isinstance(v, (list, dict)) for v in value.values())
    }
    table = pd.json_normalize(
        [{k: v for k, v in r.items() if k not in whole} for r in records], sep="_"
    )
    for key in sorted(whole):
        table[key] = [r.get(key) for r in records]
    return table.add_prefix("pred_")


def output_kind(output: str) -> str:
    """The writer for `output` by its extension (`-`: JSON lines on stdout)."""
    if output == STDIO:
        return "jsonl"
    kind = WRITERS.get(Path(str(output)).suffix.lower())
    if kind is None:
        raise SFTConfigError(
            f"output: cannot write '{output}': unknown file type (use one of "
            f"{', '.join(sorted(WRITERS))}, or - for stdout)"
        )
    return kind


def _json_cell(value):
    """A list or dict as JSON text (CSV has no nested values); anything else as it is."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def _missing(value) -> bool:
    """Whether a cell is missing (a float NaN, pandas' NA or NaT, None); a list is present."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array cell
        return False


def write_output(table, output: str) -> None:
    """Write the table as CSV/TSV/JSONL/Parquet (by extension), or JSON lines to stdout."""
    kind = output_kind(output)
    if output == STDIO:
        for record in table.to_dict(orient="records"):
            # A missing cell (pandas' NaN: rows with other keys) is null, as in a JSONL file:
            # json.dumps wrote NaN, which strict JSON readers refuse.
            record = {k: None if _missing(v) else v for k, v in record.items()}
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        table.to_parquet(path, index=False)
    elif kind == "jsonl":
        table.to_json(path, orient="records", lines=True, force_ascii=False)
    else:  # a list cell (entities, label sets) as JSON, which any reader parses back
        table.map(_json_cell).to_csv(path, index=False, sep="," if kind == "csv" else "\t")
