"""The sequence family's labels: the task settled from the train split's labels (and the
loss), the label names in id order, and the targets of each split.

Every error names the file, the row (1-based, header excluded) and the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sft.data.labels import Examples
from sft.errors import SFTDataError


@dataclass
class LabelSpace:
    """The task, the label names in id order (classification), and what turns the model's
    outputs into predictions: the multilabel threshold, the regression target's scaling.

    `kind` is the Task object of `task` (sft.tasks), set by the task that made the space:
    every question that differs between tasks (targets, outputs, metrics) goes to it."""

    task: str
    names: list[str] = field(default_factory=list)
    separator: str = ","
    threshold: float = 0.5
    target_mean: float | None = None  # set when regression targets are standardized
    target_std: float | None = None
    kind: Any = field(default=None, compare=False, repr=False)

    @property
    def num_outputs(self) -> int:
        """Width of the head: one logit per class or label, one for binary and regression."""
        return self.kind.num_outputs(len(self.names))

    def encode(self, examples: Examples, label_column: str) -> np.ndarray:
        """Label ids (single-label) [n] int64, multi-hot rows (multilabel) [n, labels]
        float32 or float targets (regression) [n] float32; SFTDataError naming the file,
        row and column of a label the train split does not have."""
        return self.kind.encode_targets(self, examples, label_column)

    def label_id(self, examples: Examples, label_column: str):
        """A function (name, row index) -> the label's id, raising SFTDataError for a label
        the train split does not have."""
        index = {name: i for i, name in enumerate(self.names)}

        def id_of(name: str, i: int) -> int:
            if name not in index:
                raise SFTDataError(
                    f"{examples.source} row {examples.rows[i]}: label '{name}' in column "
                    f"'{label_column}' does not occur in the train split "
                    f"(train labels: {', '.join(self.names)})"
                )
            return index[name]

        return id_of


def label_set(value, separator: str) -> list[str]:
    """The labels of one multilabel row: a list as it is, a string split on `separator`."""
    if _is_list(value):
        return [label_name(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    return [label_name(value)]


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def settle_task(train: Examples, label_column: str, task: str, loss_task: str | None) -> str:
    """The task of `data.task=auto`: a column holding lists is multilabel; otherwise
    `loss_task`, the task the chosen loss implies (mse -> regression, bce -> binary), or
    None, decides; otherwise fractional numbers are regression and anything else multiclass.
    Separator-joined strings are multilabel only when data.task says so (a comma may be part
    of a class name). An explicit task is checked: lists need multilabel."""
    lists = [i for i, value in enumerate(train.labels) if _is_list(value)]
    if task == "auto":
        if lists:
            task = "multilabel"
        else:
            task = loss_task or ("regression" if _is_continuous(train.labels) else "multiclass")
    if lists and task != "multilabel":
        raise SFTDataError(
            f"{train.source} row {train.rows[lists[0]]}: column "
            f"'{label_column}' holds a list of labels, which task '{task}' "
            f"cannot use; set data.task=multilabel (or auto)"
        )
    return task


def numeric(examples: Examples, label_column: str) -> np.ndarray:
    """The labels as finite float64 numbers; SFTDataError naming the first row that is not."""
    values = pd.to_numeric(examples.labels, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = bad[0]
        raise SFTDataError(
            f"{examples.source} row {examples.rows[i]}: regression target "
            f"{examples.labels.iloc[i]!r} in column '{label_column}' is not a "
            f"finite number"
        )
    return values


def _is_continuous(labels: pd.Series) -> bool:
    """Float labels with fractional values are a regression target; ints and strings are not."""
    if not pd.api.types.is_float_dtype(labels):
        return False
    values = labels.to_numpy(dtype=np.float64)
    return bool(np.any(values != np.round(values)))


def sorted_names(labels: pd.Series) -> list[str]:
    """The distinct labels of a single-label column: sorted as numbers when they all are
    numbers, else as text."""
    unique = pd.unique(labels)
    if all(
        isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool)
        for v in unique
    ):
        return [label_name(v) for v in sorted(unique)]
    return sorted({label_name(v) for v in unique})


def sorted_label_set(names: list[str]) -> list[str]:
    """Names sorted as numbers when they all are integers, else as text."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def label_name(value) -> str:
    """A label's name: integral floats (from a CSV column with gaps) read as ints."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def check_names(names: list[str], source: str, label_column: str) -> None:
    """Refuse no labels, one label, or labels that differ only in case (SFTDataError)."""
    if not names:
        raise SFTDataError(f"{source}: column '{label_column}' holds no labels")
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise SFTDataError(
                f"{source}: labels '{other}' and '{name}' in column "
                f"'{label_column}' differ only in case; make them one label"
            )
    if len(names) < 2:
        raise SFTDataError(
            f"{source}: column '{label_column}' holds a single label "
            f"('{names[0]}'); classification needs at least two"
        )
