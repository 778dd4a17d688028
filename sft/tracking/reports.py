"""Evaluation artifacts: the confusion matrix as a PNG and a per-class report (CSV, Markdown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def per_class_table(label_names: list[str], report: dict) -> pd.DataFrame:
    """One row per class (precision, recall, F1, support) plus macro and weighted averages.

    Support comes from the confusion matrix, or for multilabel from the per-label 2x2
    matrices ([[tn, fp], [fn, tp]]: the positives are fn + tp).
    """
    if "confusion" in report:
        support = np.asarray(report["confusion"]).sum(axis=1)
    else:
        support = np.asarray(report["label_confusion"])[:, 1, :].sum(axis=1)
    table = pd.DataFrame({
        "label": label_names,
        "precision": np.asarray(report["precision"], dtype=float),
        "recall": np.asarray(report["recall"], dtype=float),
        "f1": np.asarray(report["f1"], dtype=float),
        "support": support.astype(int),
    })
    metrics = ["precision", "recall", "f1"]
    weights = support / max(support.sum(), 1)
    macro = {"label": "macro avg", **{m: table[m].mean() for m in metrics},
             "support": int(support.sum())}
    weighted = {"label": "weighted avg", **{m: float((table[m] * weights).sum()) for m in metrics},
                "support": int(support.sum())}
    return pd.concat([table, pd.DataFrame([macro, weighted])], ignore_index=True)


def write_per_class_report(table: pd.DataFrame, out_dir: Path, stem: str = "per_class_report"):
    """Write the table as CSV and Markdown; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    table.to_csv(csv_path, index=False, float_format="%.4f")
    md_path.write_text(markdown_table(table) + "\n")
    return [csv_path, md_path]


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; numbers formatted per column (format_column)."""
    columns = [format_column(table[c]) for c in table.columns]
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cells) + " |" for cells in zip(*columns)] if columns else []
    return "\n".join([header, rule, *rows])


def format_column(values: pd.Series) -> list[str]:
    """Cells of one column: a column of whole numbers as integers with thousands separators
    (`params/trainable` 22,566,532, not 22566532.0000, which MLflow's float metrics gave),
    other numbers to 4 places, from 10,000 up without places, below 0.001 to 3 significant
    digits; missing values (NaN, None) as `-`; anything else as str()."""
    numbers = pd.to_numeric(values, errors="coerce")
    numeric = [isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in values]
    present = numbers[[n and not pd.isna(v) for n, v in zip(numeric, numbers)]]
    whole = len(present) > 0 and bool((present == present.round()).all()) and \
        bool((present.abs() < 1e15).all())
    cells = []
    for value, number, is_number in zip(values, numbers, numeric):
        if value is None or (is_number and pd.isna(number)):
            cells.append("-")
        elif not is_number:
            cells.append(str(value))
        elif whole:
            cells.append(f"{int(number):,}")
        else:
            cells.append(_number(float(number)))
    return cells


def _number(value: float) -> str:
    size = abs(value)
    if size >= 1e4:
        return f"{value:,.0f}"
    if size >= 1e-3 or size == 0:
        return f"{value:.4f}"
    return f"{value:.3g}"


def plot_confusion_matrix(confusion, label_names: list[str], path: Path,
                          title: str = "Confusion matrix (test)") -> Path:
    """Counts, with rows = true label and columns = predicted label, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion)
    size = max(4.0, 0.6 * len(label_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(label_names))
    ax.set_xticks(ticks, label_names, rotation=45, ha="right")
    ax.set_yticks(ticks, label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center",
                color="white" if count > threshold else "black")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
