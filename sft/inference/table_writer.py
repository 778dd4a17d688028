"""sft-predict's output, written as it is predicted: the input's columns plus `pred_*`
columns, a chunk of rows at a time, as CSV/TSV/JSONL/Parquet (by the file's extension) or
JSON lines on stdout.

A file is written under a temporary name beside it and renamed when the last chunk is in:
on an error no file (and no half of one) appears, and a file already there stays as it was.
On stdout the rows of the chunks done before an error have been written (the exit code
says that the run failed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sft.errors import SFTDataError
from sft.inference.tables import STDIO, _missing, output_kind


def _json_cell(value):
    """A list or dict as JSON text (CSV has no nested values); anything else as it is."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


class TableWriter:
    """`with TableWriter(output) as out: out.write(chunk)` for each chunk (a DataFrame), in
    order. Every chunk has the first chunk's columns (a CSV header and a Parquet schema are
    written once); SFTDataError naming the rows when one does not (a Parquet column whose
    values no longer fit the first chunk's type, say)."""

    def __init__(self, output: str):
        self.kind = output_kind(output)  # SFTConfigError for an unknown extension
        self.output = output
        self.columns = None
        self.rows = 0
        self._handle = None
        self._parquet = None
        if output != STDIO:
            path = Path(output)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.path = path
            self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")

    def __enter__(self) -> TableWriter:
        if self.output != STDIO and self.kind != "parquet":
            self._handle = open(self.partial, "w", encoding="utf-8", newline="")
        return self

    def write(self, table) -> None:
        """Append the rows of `table`."""
        if self.columns is None:
            self.columns = list(table.columns)
        elif list(table.columns) != self.columns:
            extra = [c for c in table.columns if c not in self.columns]
            if extra:
                raise SFTDataError(
                    f"output: rows from {self.rows + 1} have columns the first rows did not "
                    f"({', '.join(map(str, extra))}); a streamed output keeps its first columns"
                )
            table = table.reindex(columns=self.columns)
        if self.output == STDIO:
            for record in table.to_dict(orient="records"):
                # A missing cell (pandas' NaN: rows with other keys) is null, as in a JSONL
                # file: json.dumps wrote NaN, which strict JSON readers refuse.
                record = {k: None if _missing(v) else v for k, v in record.items()}
                sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        elif self.kind == "parquet":
            self._write_parquet(table)
        elif self.kind == "jsonl":
            self._handle.write(table.to_json(orient="records", lines=True, force_ascii=False))
        else:  # a list cell (entities, label sets) as JSON, which any reader parses back
            table.map(_json_cell).to_csv(
                self._handle,
                index=False,
                header=self.rows == 0,
                sep="," if self.kind == "csv" else "\t",
            )
        self.rows += len(table)

    def _write_parquet(self, table) -> None:
        import pyarrow as pa  # why: only Parquet outputs need it
        import pyarrow.parquet as pq

        if self._parquet is None:
            arrow = pa.Table.from_pandas(table, preserve_index=False)
            self._parquet = pq.ParquetWriter(self.partial, arrow.schema)
            self._schema = arrow.schema
        else:
            try:
                arrow = pa.Table.from_pandas(table, schema=self._schema, preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as err:
                raise SFTDataError(
                    f"output: rows from {self.rows + 1} do not fit the types of the first "
                    f"rows in {self.path} ({str(err).splitlines()[0]}); write .csv or .jsonl"
                ) from None
        self._parquet.write_table(arrow)

    def __exit__(self, kind, error, trace) -> None:
        for closing in (self._handle, self._parquet):
            if closing is not None:
                closing.close()
        if self.output == STDIO:
            return
        if error is None:
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)
