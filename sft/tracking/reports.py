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
    """A GitHub-flavoured Markdown table (floats to 4 places)."""
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, (float, np.floating)) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


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
