"""Read CSV/TSV files as pandas frames without their whole text in memory: checks on the
header lines only, then pandas.read_csv over the file's byte stream (whole, or in chunks of
rows for sft-predict)."""

from __future__ import annotations

import csv
from contextlib import contextmanager

import pandas as pd

from sft.data.data_file import DataFile, _check_unique, _decode
from sft.data.delimiters import resolve_delimiter
from sft.errors import SFTDataError


def delimited_setup(source: DataFile, key: str, kind: str, delimiter: str = "auto") -> str:
    """Checks of a CSV/TSV file before pandas reads it, from its first lines only: not empty
    (blank), UTF-8 up to its header, its column names unique; the delimiter (`sep`)."""
    try:
        with source.open() as stream:
            first = _first_line(_stream_lines(stream))
        if not first:
            raise SFTDataError(f"{key}: {source.display} is empty")
        sep = resolve_delimiter(kind, first, delimiter)
        with source.open() as stream:
            names = _header(_stream_lines(stream), sep)
    except UnicodeDecodeError:
        _decode(source.read_bytes(), source, key)  # raises, naming the line
        raise
    _check_unique(names, source, key)
    return sep


@contextmanager
def _csv_errors(source: DataFile, key: str):
    """pandas' errors on a CSV/TSV file as one SFTDataError naming the file (and line)."""
    try:
        yield
    except UnicodeDecodeError:
        _decode(source.read_bytes(), source, key)  # raises, naming the line
        raise
    except pd.errors.EmptyDataError:
        raise SFTDataError(f"{key}: {source.display} is empty") from None
    except pd.errors.ParserError as err:
        detail = str(err).replace("Error tokenizing data. C error: ", "").strip()
        raise SFTDataError(f"{key}: {source.display}: {detail}") from None


# As sft reads CSV: empty cells are missing, "NA" and "null" stay text.
CSV_OPTIONS = {"encoding": "utf-8-sig", "keep_default_na": False, "na_values": [""]}


def read_csv_file(source: DataFile, key: str, sep: str) -> pd.DataFrame:
    """pandas.read_csv over the file, never its whole text in memory (decoded and wrapped in a
    StringIO it peaked at 3.3x pandas.read_csv(path) on a 95 MiB CSV; now 1.0x,
    benchmarks/read_memory.py). SFTDataError naming the file (and line) for bytes that are
    not UTF-8 or a row pandas cannot parse."""
    with _csv_errors(source, key):
        if source.member is None:  # by its path: pandas' C reader decodes (2x a stream's speed)
            return pd.read_csv(source.path, sep=sep, **CSV_OPTIONS)
        with source.open() as stream:
            return pd.read_csv(stream, sep=sep, **CSV_OPTIONS)


def csv_chunks(source: DataFile, key: str, sep: str, chunk_rows: int):
    """As read_csv_file, as frames of `chunk_rows` rows (a frame's index: its rows' positions
    in the file; pandas' line numbers in errors count from the file's start)."""
    with _csv_errors(source, key), source.open() as stream:
        where = stream if source.member else source.path
        with pd.read_csv(where, sep=sep, chunksize=chunk_rows, **CSV_OPTIONS) as reader:
            yield from reader


def _header(lines, sep: str) -> list[str]:
    """The raw names of a CSV/TSV header (pandas has renamed duplicates by the time it
    returns); the first non-blank row, as pandas skips blank lines."""
    try:
        for row in csv.reader(lines, delimiter=sep):
            if any(cell.strip() for cell in row):
                return row
    except csv.Error:  # pandas reads the file next and names what is wrong with it
        pass
    return []


def _first_line(lines) -> str:
    """The first non-blank line (the header, as pandas skips blank lines)."""
    return next((line for line in lines if line.strip()), "")


def _stream_lines(stream):
    """The decoded lines of a binary stream, one at a time: the checks read only the header's
    lines (UnicodeDecodeError for bytes that are not UTF-8 there); a UTF-8 BOM is dropped."""
    for number, line in enumerate(stream):
        yield line.decode("utf-8-sig" if number == 0 else "utf-8")
