"""Texts and labels out of a table: column checks, task inference, label ids.

Every error names the file, the row (1-based, header excluded) and the column.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sft.data.delimiters import delimiter_hint
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

    def subset(self, index: np.ndarray) -> Examples:
        return Examples(self.source, [self.texts[i] for i in index],
                        self.labels.iloc[index].reset_index(drop=True), self.rows[index])


@dataclass
class LabelSpace:
    """The task, the label names in id order (classification), and what turns the model's
    outputs into predictions: the multilabel threshold, the regression target's scaling."""

    task: str
    names: list[str] = field(default_factory=list)
    separator: str = ","
    threshold: float = 0.5
    target_mean: float | None = None  # set when regression targets are standardized
    target_std: float | None = None

    @property
    def num_outputs(self) -> int:
        """Width of the head: one logit per class or label, one for binary and regression."""
        return len(self.names) if self.task in ("multiclass", "multilabel") else 1

    def encode(self, examples: Examples, label_column: str) -> np.ndarray:
        """Label ids (single-label), multi-hot rows (multilabel) or float targets (regression)."""
        if self.task == "regression":
            return _numeric(examples, label_column).astype(np.float32)
        index = {name: i for i, name in enumerate(self.names)}

        def id_of(name: str, i: int) -> int:
            if name not in index:
                raise SFTDataError(
                    f"{examples.source} row {examples.rows[i]}: label '{name}' in column "
                    f"'{label_column}' does not occur in the train split "
                    f"(train labels: {', '.join(self.names)})")
            return index[name]

        if self.task == "multilabel":
            hot = np.zeros((len(examples), len(self.names)), dtype=np.float32)
            for i, value in enumerate(examples.labels):
                for name in label_set(value, self.separator):
                    hot[i, id_of(name, i)] = 1.0
            return hot
        return np.array([id_of(_label_name(v), i) for i, v in enumerate(examples.labels)],
                        dtype=np.int64)


def label_set(value, separator: str) -> list[str]:
    """The labels of one multilabel row: a list as it is, a string split on `separator`."""
    if _is_list(value):
        return [_label_name(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    return [_label_name(value)]


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def extract(frame: pd.DataFrame, source: str, text_column: str, label_column: str,
            clean_text: bool) -> Examples:
    """Validated texts and labels from a table; raise SFTDataError naming file, row, column."""
    for key, column in (("data.text_column", text_column), ("data.label_column", label_column)):
        if column not in frame.columns:
            raise SFTDataError(f"{key}: no column '{column}' in {source} "
                               f"(columns: {', '.join(map(str, frame.columns))})"
                               f"{delimiter_hint(frame.columns)}")
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
                      loss_task: str | None, separator: str = ",") -> LabelSpace:
    """Decide the task (explicit, else from the labels and the loss) and the label names.

    A column holding lists is multilabel; otherwise `loss_task`, the task the chosen loss
    implies by default (mse -> regression, bce -> binary), or None, decides; otherwise
    fractional numbers are regression and anything else multiclass. Separator-joined strings
    are multilabel only when data.task says so (a comma may be part of a class name).
    """
    lists = [i for i, value in enumerate(train.labels) if _is_list(value)]
    if task == "auto":
        if lists:
            task = "multilabel"
        else:
            task = loss_task or ("regression" if _is_continuous(train.labels) else "multiclass")
    if lists and task != "multilabel":
        raise SFTDataError(f"{train.source} row {train.rows[lists[0]]}: column "
                           f"'{label_column}' holds a list of labels, which task '{task}' "
                           f"cannot use; set data.task=multilabel (or auto)")
    if task == "regression":
        _numeric(train, label_column)
        return LabelSpace("regression")
    if task == "multilabel":
        names = _sorted(list({n for v in train.labels for n in label_set(v, separator)}))
    else:
        names = _sorted_names(train.labels)
    if not names:
        raise SFTDataError(f"{train.source}: column '{label_column}' holds no labels")
    _check_case_duplicates(names, train.source, label_column)
    if len(names) < 2:
        raise SFTDataError(f"{train.source}: column '{label_column}' holds a single label "
                           f"('{names[0]}'); classification needs at least two")
    if task == "binary" and len(names) != 2:
        raise SFTDataError(f"{train.source}: task 'binary' needs exactly 2 labels in column "
                           f"'{label_column}', found {len(names)} ({', '.join(names[:10])})")
    return LabelSpace(task, names, separator)


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


def _sorted(names: list[str]) -> list[str]:
    """Names sorted as numbers when they all are integers, else as text."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


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
