"""What a run tells its tracker about its data splits (the tracker's `log_datasets`; MLflow
shows them as dataset inputs, sft.tracking.datasets), built from what the loaded datamodule
knows already: no file is read twice.

A split read from its own file (or hub split) has that file's content hash as its digest,
the `sft.data.<split>_sha256` tag's value. A split carved out of train (`data.val_fraction`,
`data.test_fraction`) or a CV fold's has the sha256 of the train file's hash and the row
numbers it holds: the same rows of the same file give the same digest, another fold another
(a task family whose splits keep no row numbers: the split's name and size stand in).
"""

from __future__ import annotations

import hashlib

import numpy as np
from omegaconf import DictConfig

from sft.config.data_schemas import experiment_of


def split_datasets(cfg: DictConfig, datamodule, whole_files: bool = False) -> list[dict]:
    """One dict per split of the loaded `datamodule` (train, val, test as present): `name`
    (`<data>-<split>`, e.g. `drug-reviews-test`), `digest` (hex), `source` (the configured path
    or hub id), `split`, `columns` (column -> MLflow type) and `rows`.

    `whole_files`: only the splits read from a file of their own, as whole files (the parent of
    CV folds: its train file, not one fold's part of it; `rows` None where the run cut it)."""
    prints = dict(datamodule.data_fingerprint())
    paths = dict(getattr(datamodule, "paths", None) or {})
    examples = dict(getattr(datamodule, "examples", None) or {})
    # train is its whole file unless a split was carved from it (no file of its own)
    cut = any(s not in prints for s in examples if s != "train")
    described = []
    for split, part in examples.items():
        own = split in prints and not (split == "train" and cut)
        if whole_files and split not in prints:
            continue
        if own or whole_files:
            digest, rows = prints[split], _size(part) if own else None
        else:
            held = getattr(part, "rows", None)
            held = [split, _size(part)] if held is None else held
            digest, rows = _rows_digest(prints.get("train", ""), held), _size(part)
        described.append(
            {
                "name": f"{experiment_of(cfg.data)}-{split}",
                "digest": digest,
                "source": str(
                    paths.get(split) or paths.get("train") or getattr(part, "source", split)
                ),
                "split": split,
                "columns": _columns(datamodule),
                "rows": rows,
            }
        )
    return described


def _size(part) -> int | None:
    """The split's number of examples (None: its type does not say)."""
    try:
        return len(part)
    except TypeError:
        return None


def _rows_digest(file_digest: str, rows) -> str:
    """sha256 of the file's hash and the row numbers (int64) a split holds of it (or what
    stands in for them: see the module's doc)."""
    digest = hashlib.sha256(file_digest.encode())
    try:
        digest.update(np.asarray(rows, dtype=np.int64).tobytes())
    except (TypeError, ValueError):  # no numbers: their text
        digest.update(repr(list(rows)).encode())
    return digest.hexdigest()


def _columns(datamodule) -> dict[str, str]:
    """The input column (texts, or media file paths) as `string`; the label column as
    `double` for continuous targets (regression), else `string` (class names)."""
    columns = {}
    text = getattr(datamodule, "text_column", None)
    if text:
        columns[str(text)] = "string"
    label = getattr(datamodule, "label_column", None)
    if label:
        kind = getattr(getattr(datamodule, "labels", None), "kind", None)
        columns[str(label)] = "double" if getattr(kind, "continuous_targets", False) else "string"
    return columns
