"""Texts and raw labels out of a table: column checks, empty rows, text cleaning. What the
labels mean (the task, label ids) is the task family's (sft.tasks.sequence.labels).

Every error names the file, the row (1-based, header excluded) and the column.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

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
        return Examples(
            self.source,
            [self.texts[i] for i in index],
            self.labels.iloc[index].reset_index(drop=True),
            self.rows[index],
        )


def extract(
    frame: pd.DataFrame, source: str, text_column: str, label_column: str, clean_text: bool
) -> Examples:
    """Validated texts and labels from a table; raise SFTDataError naming file, row, column."""
    for key, column in (("data.text_column", text_column), ("data.label_column", label_column)):
        if column not in frame.columns:
            raise SFTDataError(
                f"{key}: no column '{column}' in {source} "
                f"(columns: {', '.join(map(str, frame.columns))})"
                f"{delimiter_hint(frame.columns)}"
            )
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


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
