"""Texts and labels out of a table: column checks, task inference, label ids.

Every error names the file, the row (1-based, header excluded) and the column.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sft.errors import SFTDataError


@dataclass
class Examples:
    """The texts and raw labels of one split, with their row numbers in the source file."""

    source: str
    texts: list[str]
    labels: pd.Series
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray) -> "Examples":
        return Examples(self.source, [self.texts[i] for i in index],
                        self.labels.iloc[index].reset_index(drop=True), self.rows[index])


@dataclass
class LabelSpace:
    """The task and, for classification, the label names in id order."""

    task: str
    names: list[str] = field(default_factory=list)

    @property
    def num_outputs(self) -> int:
        """Width of the head: one logit per class, one for binary and regression."""
        return len(self.names) if self.task == "multiclass" else 1

    def encode(self, examples: Examples, label_column: str) -> np.ndarray:
        """Label ids (classification) or float targets (regression) for `examples`."""
        if self.task == "regression":
            return _numeric(examples, label_column).astype(np.float32)
        index = {name: i for i, name in enumerate(self.names)}
        ids = np.empty(len(examples), dtype=np.int64)
        for i, value in enumerate(examples.labels):
            name = _label_name(value)
            if name not in index:
                raise SFTDataError(
                    f"{examples.source} row {examples.rows[i]}: label '{name}' in column "
                    f"'{label_column}' does not occur in the train split "
                    f"(train labels: {', '.join(self.names)})")
            ids[i] = index[name]
        return ids


def extract(frame: pd.DataFrame, source: str, text_column: str, label_column: str,
            clean_text: bool) -> Examples:
    """Validated texts and labels from a table; raise SFTDataError naming file, row, column."""
    for key, column in (("data.text_column", text_column), ("data.label_column", label_column)):
        if column not in frame.columns:
            raise SFTDataError(f"{key}: no column '{column}' in {source} "
                               f"(columns: {', '.join(map(str, frame.columns))})")
    if len(frame) == 0:
        raise SFTDataError(f"{source} has a header but no rows")
    rows = np.arange(1, len(frame) + 1)
    texts = []
    for row, value in zip(rows, frame[text_column]):
        text = "" if _missing(value) else str(value)
        if clean_text:
            text = clean(text)
        if not text.strip():
            raise SFTDataError(f"{source} row {row}: empty text in column '{text_column}'")
        texts.append(text)
    labels = frame[label_column].reset_index(drop=True)
    for row, value in zip(rows, labels):
        if _missing(value):
            raise SFTDataError(f"{source} row {row}: missing label in column '{label_column}'")
    return Examples(source, texts, labels, rows)


def clean(text: str) -> str:
    """Unescape HTML entities and strip one layer of quotes wrapped around the whole text."""
    text = html.unescape(text).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def infer_label_space(train: Examples, label_column: str, task: str,
                      loss_task: str | None) -> LabelSpace:
    """Decide the task (explicit, else from the loss and the labels) and the label names.

    `loss_task` is the task the chosen loss implies when it implies only one (mse ->
    regression, bce -> binary), else None.
    """
    if task == "auto":
        task = loss_task or ("regression" if _is_continuous(train.labels) else "multiclass")
    if task == "regression":
        _numeric(train, label_column)
        return LabelSpace("regression")
    names = _sorted_names(train.labels)
    _check_case_duplicates(names, train.source, label_column)
    if len(names) < 2:
        raise SFTDataError(f"{train.source}: column '{label_column}' holds a single label "
                           f"('{names[0]}'); classification needs at least two")
    if task == "binary" and len(names) != 2:
        raise SFTDataError(f"{train.source}: task 'binary' needs exactly 2 labels in column "
                           f"'{label_column}', found {len(names)} ({', '.join(names[:10])})")
    return LabelSpace(task, names)


def _numeric(examples: Examples, label_column: str) -> np.ndarray:
    values = pd.to_numeric(examples.labels, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = bad[0]
        raise SFTDataError(f"{examples.source} row {examples.rows[i]}: regression target "
                           f"{examples.labels.iloc[i]!r} in column '{label_column}' is not a "
                           f"finite number")
    return values


def _is_continuous(labels: pd.Series) -> bool:
    """Float labels with fractional values are a regression target; ints and strings are not."""
    if not pd.api.types.is_float_dtype(labels):
        return False
    values = labels.to_numpy(dtype=np.float64)
    return bool(np.any(values != np.round(values)))


def _sorted_names(labels: pd.Series) -> list[str]:
    unique = pd.unique(labels)
    if all(isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool)
           for v in unique):
        return [_label_name(v) for v in sorted(unique)]
    return sorted({_label_name(v) for v in unique})


def _label_name(value) -> str:
    """A label's name: integral floats (from a CSV column with gaps) read as ints."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _check_case_duplicates(names: list[str], source: str, label_column: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise SFTDataError(f"{source}: labels '{other}' and '{name}' in column "
                               f"'{label_column}' differ only in case; make them one label")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
