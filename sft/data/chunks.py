"""A data file as frames of at most `chunk_rows` rows, read as they are needed (sft-predict
streams its input): CSV/TSV through pandas' chunked reader, JSON Lines line by line,
Parquet by record batches. Checks and error messages are read_table's; a frame's rows
number on from the previous frame's (row numbers in errors stay the file's).

Each frame's columns are typed as pandas reads that frame: a CSV column of whole numbers
with a decimal only past the first chunk reads as integers in the chunks before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from sft.data.data_file import DataFile, _check_unique, _decode
from sft.data.delimited import csv_chunks, delimited_setup, read_csv_file
from sft.data.sources import READERS, json_line_record, read_table
from sft.errors import SFTDataError


def table_chunks(
    source: DataFile, key: str, chunk_rows: int, delimiter: str = "auto"
) -> Iterator[pd.DataFrame]:
    """The table of `source` as consecutive frames (at least one: a file of a header only
    gives its columns and no rows), each frame's index its rows' positions in the table.
    A zip member or a JSON array is read whole first (then cut), as read_table reads it."""
    kind = READERS.get(source.suffix)
    if kind in ("csv", "tsv"):
        sep = delimited_setup(source, key, kind, delimiter)
        empty = True
        for frame in csv_chunks(source, key, sep, chunk_rows):
            empty = False
            yield frame
        if empty:  # pandas' chunked reader yields nothing for a header without rows
            yield read_csv_file(source, key, sep)
    elif kind == "jsonl" and source.member is None and not _json_array(source):
        yield from _jsonl_chunks(source, key, chunk_rows)
    elif kind == "parquet" and source.member is None:
        yield from _parquet_chunks(source, key, chunk_rows)
    else:
        frame = read_table(source, key, delimiter)
        for start in range(0, max(len(frame), 1), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]


def _json_array(source: DataFile) -> bool:
    """Whether the file holds a JSON array (its first non-blank byte is `[`)."""
    with source.path.open("rb") as stream:
        while block := stream.read(1 << 16):
            stripped = block.lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


def _records(source: DataFile, key: str):
    """(line number, JSON object) of each non-blank line, checked as read_table checks."""
    with source.path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                _decode(source.read_bytes(), source, key)  # raises, naming the line
                raise
            if line.strip():
                yield number, json_line_record(line, number, source, key)


def _jsonl_chunks(source: DataFile, key: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """JSON Lines in frames; every frame has the columns of the whole file (a first pass
    collects the keys, in order of appearance, as pandas would make them)."""
    columns: dict[str, None] = {}
    for _, record in _records(source, key):
        columns.update(dict.fromkeys(record))
    if not columns and not any(True for _ in _records(source, key)):
        raise SFTDataError(f"{key}: {source.display} is empty")
    batch, start = [], 0
    for _, record in _records(source, key):
        batch.append(record)
        if len(batch) == chunk_rows:
            yield _frame(batch, list(columns), start)
            batch, start = [], start + len(batch)
    if batch or start == 0:
        yield _frame(batch, list(columns), start)


def _frame(records: list[dict], columns: list[str], start: int) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def _parquet_chunks(source: DataFile, key: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Parquet by record batches, after read_table's checks (unique names, a readable file)."""
    import pyarrow as pa  # why: only Parquet inputs need it
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.path)
    except Exception:  # pyarrow raises many types for a bad file: read_table names it
        read_table(source, key)
        raise
    _check_unique(parquet.schema_arrow.names, source, key)
    start = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        frame = pa.Table.from_batches([batch], schema=parquet.schema_arrow).to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        yield frame
    if start == 0:
        yield parquet.schema_arrow.empty_table().to_pandas()
