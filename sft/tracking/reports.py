"""Evaluation artifacts: the confusion matrix as a PNG and a per-class report (CSV, Markdown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def per_class_table(label_names: list[str], report: dict) -> pd.DataFrame:
    """One row per class (precision, recall, F1, support) plus macro and weighted averages.

    `report` is the task's class report (sft.tasks.sequence.metrics.class_report): a class
    absent from the split has NaN precision, recall and F1 (blank in the CSV, "absent" in
    Markdown) and support 0. The
    macro row is the mean over the present classes, the same number as the logged
    `<stage>/f1_macro`; the weighted row weights each class by its support.
    """
    support = np.asarray(report["support"], dtype=int)
    table = pd.DataFrame(
        {
            "label": label_names,
            "precision": np.asarray(report["precision"], dtype=float),
            "recall": np.asarray(report["recall"], dtype=float),
            "f1": np.asarray(report["f1"], dtype=float),
            "support": support,
        }
    )
    metrics = ["precision", "recall", "f1"]
    weights = support / max(support.sum(), 1)
    present = support > 0
    macro = {
        "label": "macro avg",
        **{m: table[m][present].mean() if present.any() else np.nan for m in metrics},
        "support": int(support.sum()),
    }
    weighted = {
        "label": "weighted avg",
        **{m: float((table[m].fillna(0.0) * weights).sum()) for m in metrics},
        "support": int(support.sum()),
    }
    return pd.concat([table, pd.DataFrame([macro, weighted])], ignore_index=True)


def measure_table(report: dict) -> pd.DataFrame:
    """The per-class table of a one-measure class report (sft.tasks.task_model: detection's
    mAP, segmentation's IoU): label, the measure (NaN for a class the split lacks: blank in
    the CSV, "absent" in Markdown) and whether the split has the class."""
    table = pd.DataFrame(report["table"])
    measure = next(c for c in table.columns if c not in ("label", "present"))
    table.loc[~table["present"].astype(bool), measure] = float("nan")
    return table


def write_per_class_report(table: pd.DataFrame, out_dir: Path, stem: str = "per_class_report"):
    """Write the table as CSV and Markdown; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    table.to_csv(csv_path, index=False, float_format="%.4f")
    md_path.write_text(markdown_table(table, missing="absent") + "\n")
    return [csv_path, md_path]


def markdown_table(table: pd.DataFrame, missing: str = "-") -> str:
    """A GitHub-flavoured Markdown table; numbers formatted per column (format_column),
    missing values shown as `missing` (the per-class report says `absent`)."""
    columns = [format_column(table[c], missing) for c in table.columns]
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cells) + " |" for cells in zip(*columns)] if columns else []
    return "\n".join([header, rule, *rows])


def format_column(values: pd.Series, missing: str = "-") -> list[str]:
    """Cells of one column: a column of whole numbers as integers with thousands separators
    (`params/trainable` 22,566,532, not 22566532.0000, which MLflow's float metrics gave),
    other numbers to 4 places, from 10,000 up without places, below 0.001 to 3 significant
    digits; missing values (NaN, None) as `missing`; anything else as str()."""
    numbers = pd.to_numeric(values, errors="coerce")
    numeric = [
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values
    ]
    present = numbers[[n and not pd.isna(v) for n, v in zip(numeric, numbers)]]
    whole = (
        len(present) > 0
        and bool((present == present.round()).all())
        and bool((present.abs() < 1e15).all())
    )
    cells = []
    for value, number, is_number in zip(values, numbers, numeric):
        if value is None or (is_number and pd.isna(number)):
            cells.append(missing)
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


def write_confusion_csv(confusion, label_names: list[str], path: Path) -> Path:
    """The full matrix as CSV: a row per true label, a column per predicted label, counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        np.asarray(confusion, dtype=np.int64), index=list(label_names), columns=list(label_names)
    )
    frame.rename_axis("true/predicted").to_csv(path)
    return path


def most_confused(confusion, count: int) -> np.ndarray:
    """The indices (in label order) of the `count` classes with the most off-diagonal
    counts, as true or as predicted class: the part of a large matrix worth looking at."""
    matrix = np.asarray(confusion, dtype=np.int64)
    if len(matrix) <= count:
        return np.arange(len(matrix))
    errors = matrix.sum(axis=0) + matrix.sum(axis=1) - 2 * matrix.diagonal()
    return _most_errors(errors, matrix.sum(axis=1), count)


def _most_errors(errors: np.ndarray, support: np.ndarray, count: int) -> np.ndarray:
    # Most errors first; ties by support, then by label order (stable: the same every run).
    order = np.lexsort((np.arange(len(errors)), -support, -errors))
    return np.sort(order[:count])


def confusion_part(cells, num_classes: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`most_confused` of a matrix given as its nonzero cells (m, 3) [true, predicted,
    count] (sft.tasks.sequence.class_counts.ConfusionCells; too many classes to hold it
    whole), in O(m + classes): the shown class indices and their (count, count) sub-matrix."""
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 3)
    true, pred, n = cells[:, 0], cells[:, 1], cells[:, 2]
    off = np.where(true != pred, n, 0)
    k = num_classes
    errors = np.bincount(true, off, minlength=k) + np.bincount(pred, off, minlength=k)
    shown = _most_errors(errors, np.bincount(true, n, minlength=k), count)
    position = np.full(k, -1)
    position[shown] = np.arange(len(shown))
    keep = (position[true] >= 0) & (position[pred] >= 0)
    matrix = np.zeros((len(shown), len(shown)), dtype=np.int64)
    np.add.at(matrix, (position[true[keep]], position[pred[keep]]), n[keep])
    return shown, matrix


def write_confusion_cells_csv(cells, label_names: list[str], path: Path) -> Path:
    """The nonzero cells of a confusion matrix too large to write whole: a row per (true,
    predicted) label pair that occurs, with its count."""
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 3)
    names = np.asarray(list(label_names), dtype=object)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"true": names[cells[:, 0]], "predicted": names[cells[:, 1]], "count": cells[:, 2]}
    ).to_csv(path, index=False)
    return path


# The picture stays readable and opens anywhere, whatever the class count: at most
# MAX_SHOWN classes (the most confused; the full matrix is in confusion_matrix.csv), counts in
# the cells up to CELL_NUMBERS classes, at most 20 x 20 inches at 100 dpi (4 Mpx).
MAX_SHOWN, CELL_NUMBERS, MAX_INCHES = 40, 30, 20.0


def plot_confusion_matrix(
    confusion, label_names: list[str], path: Path, title: str = "Confusion matrix (test)"
) -> Path:
    """Counts, with rows = true label and columns = predicted label, as a PNG of at most
    2000 x 2000 pixels; above MAX_SHOWN classes, the MAX_SHOWN most-confused ones (the title
    says so)."""
    import matplotlib  # lazy: matplotlib only when a run writes a picture

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    full = np.asarray(confusion)
    shown = most_confused(full, MAX_SHOWN)
    matrix = full[np.ix_(shown, shown)]
    names = [str(label_names[i]) for i in shown]
    if len(shown) < len(full):
        title = f"{title}: the {len(shown)} most-confused of {len(full)} classes"
    size = min(MAX_INCHES, max(4.0, 0.45 * len(names) + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(names))
    font = 10 if len(names) <= CELL_NUMBERS else 7
    ax.set_xticks(ticks, [n[:24] for n in names], rotation=45, ha="right", fontsize=font)
    ax.set_yticks(ticks, [n[:24] for n in names], fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(names) <= CELL_NUMBERS:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                int(count),
                ha="center",
                va="center",
                color="white" if count > threshold else "black",
            )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
