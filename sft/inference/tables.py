"""Tables in and out of batch prediction (`sft-predict`): read the texts (a data file, stdin
lines, or a folder of image/audio files), whole or in chunks of rows; `pred_*` columns of
prediction records (sft.inference.table_writer writes them).
"""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path

import pandas as pd

from sft.data.chunks import table_chunks
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


def input_chunks(
    source: str,
    text_column: str,
    split: str | None = None,
    media_dir: str | None = None,
    chunk_rows: int = 4096,
):
    """The input table (read_input's) as frames of at most `chunk_rows` rows, read as they
    are needed: a data file in chunks (sft.data.chunks), stdin a chunk of lines at a time
    (each frame as soon as its lines arrived), a dataset split or a folder of files read
    whole and cut. At least one frame (with the columns, no rows, for an empty input)."""
    if source == STDIO:
        lines = (line.rstrip("\r\n") for line in sys.stdin)
        texts = (line for line in lines if line.strip())
        first = True
        while (batch := list(islice(texts, chunk_rows))) or first:
            first = False
            yield pd.DataFrame({text_column: batch})
        return
    if split is not None or is_saved_dataset(source) or Path(source).expanduser().is_dir():
        frame = read_input(source, text_column, split, media_dir)
        for start in range(0, max(len(frame), 1), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]
        return
    yield from table_chunks(locate(str(source), "input"), "input", chunk_rows)


def texts_of(frame, text_column: str, source: str, start: int = 1) -> list[str]:
    """The texts of `text_column`; SFTDataError naming the row (the frame's first is row
    `start`) of a missing one."""
    if text_column not in frame.columns:
        raise SFTDataError(
            f"text_column: no column '{text_column}' in {source} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    texts = []
    for row, value in enumerate(frame[text_column], start=start):
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


def _missing(value) -> bool:
    """Whether a cell is missing (a float NaN, pandas' NA or NaT, None); a list is present."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array cell
        return False
