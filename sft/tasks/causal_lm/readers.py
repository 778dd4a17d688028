"""Read one split of causal-LM rows: a JSONL, JSON, CSV/TSV or Parquet file (sft.data.sources:
plain paths, zip members, pkg://), or a split of a 🤗 dataset saved with `save_to_disk`; every
row's shape is checked (rows.row_shape) with one line naming the file and the row (1-based).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from sft.data.hf_sources import is_saved_dataset
from sft.data.sources import fingerprint, locate, read_table
from sft.errors import SFTDataError
from sft.tasks.causal_lm.batches import Conversations
from sft.tasks.causal_lm.rows import check_messages, row_shape, where

FORMATS = ("auto", "table", "hf_dataset")


def kind_of(path: str, format: str) -> str:
    """`format`, or for auto: hf_dataset for a save_to_disk folder, else table."""
    if format != "auto":
        return format
    return "hf_dataset" if is_saved_dataset(path) else "table"


def read_rows(
    path: str, key: str, format: str, names: tuple[str, ...], implicit: bool = False
) -> tuple[Conversations | None, str]:
    """The checked rows at `path` (config key `key`) and a fingerprint of the source (sha256
    of the file; of a saved dataset's state files). A saved dataset's split is the first of
    `names` it has, else (unless `implicit`: a validation or test split looked for in the
    train dataset, None when absent) its only split. SFTDataError (one line) for a missing
    split, an empty source or a row without a shape."""
    if kind_of(path, format) == "hf_dataset":
        found = _read_saved(path, key, names, implicit)
        digest = _saved_fingerprint(path)
    else:
        source = locate(path, key)
        frame = read_table(source, key)
        if len(frame) == 0:
            raise SFTDataError(f"{key}: {source.display} has no rows")
        found = _checked(source.display, frame.to_dict("records"))
        digest = fingerprint(source)
    return found, digest


def _read_saved(path: str, key: str, names, implicit: bool) -> Conversations | None:
    from sft.data.hf_sources import open_dataset  # lazy: imports datasets (~1 s)

    dataset = open_dataset(path, None, key=key)
    available = list(dataset.keys())
    name = next((n for n in names if n in available), None)
    if name is None and implicit:
        return None
    if name is None and len(available) == 1:
        name = available[0]
    if name is None:
        raise SFTDataError(
            f"{key}: {path} has no split '{names[0]}' (splits: {', '.join(available)})"
        )
    part = dataset[name]
    if len(part) == 0:
        raise SFTDataError(f"{key}: {path} (split '{name}') has no rows")
    return _checked(f"{path} (split '{name}')", part.to_list())


def _checked(source: str, records: list[dict]) -> Conversations:
    """Rows without their missing cells (a CSV's empty cell or a key another JSONL row has is
    NaN in pandas, a saved dataset's None), each shape checked."""
    rows = [
        {k: value for k, value in ((k, _value(v)) for k, v in record.items()) if value is not None}
        for record in records
    ]
    shapes = [row_shape(row, source, number) for number, row in enumerate(rows, 1)]
    for number, row in enumerate(rows, 1):
        if isinstance(row.get("messages"), str):  # a CSV cell: JSON text, read once here
            row["messages"] = check_messages(row["messages"], where(source, number))
    return Conversations(source, rows, range(1, len(rows) + 1), shapes)


def _value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):  # Parquet's numpy lists
        value = value.tolist()
    if isinstance(value, list):
        return [dict(turn) if isinstance(turn, dict) else turn for turn in value]
    return value


def _saved_fingerprint(path: str) -> str:
    """The sha256 of a saved dataset's state files (they record its Arrow files' fingerprints)."""
    digest = hashlib.sha256()
    for state in sorted(Path(path).expanduser().rglob("*.json")):
        digest.update(state.read_bytes())
    return digest.hexdigest()
