"""Two figures of the docs, drawn from the measured figures their pages quote (no training):

- docs/cv_comparison.png (docs/cv.md): test accuracy and macro F1 of one fold model
  (mean +- std of 5), the fold ensemble, its calibrated and its tuned variant, and the default
  recipe over seeds 1, 2, 3 (mean +- std), from the run
  `sft-train experiment=drug_reviews_cv` and `make train ARGS='seeds=[1,2,3]'` (seed 42, 379
  test reviews, 2 CPU cores).
- docs/strategies.png (docs/finetuning.md): test macro F1 of each fine-tuning strategy, with
  its trainable parameters and wall time, from `sft-train experiment=strategies`.

    python docs/scripts/comparison_figures.py        # writes both PNGs under docs/

The numbers are copied from those runs' logged metrics (the tables on the two pages); a rerun
that changes them changes the tables and this file together. Seconds, on any machine.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: write PNGs only
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parents[1]

# (label, accuracy, accuracy std, macro F1, macro F1 std); std None for a single model.
CV_ROWS = [
    ("default recipe,\nseeds 1-3", 0.710, 0.021, 0.545, 0.007),
    ("one fold model\n(mean of 5)", 0.7230, 0.0131, 0.5467, 0.0106),
    ("fold ensemble,\nraw mean", 0.7599, None, 0.5629, None),
    ("+ calibration\n(in the yaml)", 0.7599, None, 0.5624, None),
    ("+ tuned decisions\n(off in the yaml)", 0.7599, None, 0.5519, None),
]
# (finetune, trainable parameters, test macro F1, wall seconds)
STRATEGIES = [
    ("full", 22_566_532, 0.522, 212),
    ("reinit_top", 22_566_532, 0.469, 231),
    ("freeze_bottom", 7_099_011, 0.520, 175),
    ("llrd", 22_566_532, 0.470, 240),
    ("lora", 74_883, 0.477, 185),
    ("gradual_unfreeze", 7_099_011, 0.428, 149),
    ("linear_probe", 1_155, 0.397, 73),
]


def cv_figure(path: Path) -> None:
    """Bars of test accuracy and macro F1 per row of CV_ROWS, with std where there is one."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    names = [r[0] for r in CV_ROWS]
    for ax, (title, col) in zip(axes, [("test accuracy", 1), ("test macro F1", 3)]):
        values = [r[col] for r in CV_ROWS]
        errors = [r[col + 1] or 0.0 for r in CV_ROWS]
        colors = ["#9e9e9e", "#90caf9", "#1e88e5", "#1565c0", "#b0bec5"]
        ax.barh(names, values, xerr=errors, color=colors, capsize=4)
        for y, (v, e) in enumerate(zip(values, errors)):
            ax.text(v + e + 0.004, y, f"{v:.3f}", va="center", fontsize=9)
        low = min(values) - 0.05
        ax.set_xlim(low, max(values) + 0.05)
        ax.set_title(title)
        ax.invert_yaxis()
    axes[1].set_yticklabels([])
    fig.suptitle("drug reviews, 379 test reviews: 5-fold CV ensemble vs one model")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _count(n: int) -> str:
    """1155 -> '1.2k', 22566532 -> '22.6M'."""
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def strategies_figure(path: Path) -> None:
    """Test macro F1 per strategy (best first), each bar labelled with its trainable
    parameters and wall time."""
    rows = sorted(STRATEGIES, key=lambda r: -r[2])
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    names = [f"{name}\n{_count(params)} trainable" for name, params, _, _ in rows]
    ax.barh(names, [r[2] for r in rows], color="#1e88e5")
    for y, (_, _, f1, seconds) in enumerate(rows):
        ax.text(f1 + 0.003, y, f"{f1:.3f}  ({seconds} s)", va="center", fontsize=9)
    ax.set_xlim(0.35, 0.57)
    ax.invert_yaxis()
    ax.set_xlabel("test macro F1 (379 test reviews; wall time on 2 CPU cores)")
    ax.set_title("Fine-tuning strategies at one budget (5 epochs, lr 1e-4)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    cv_figure(DOCS / "cv_comparison.png")
    strategies_figure(DOCS / "strategies.png")
    print(DOCS / "cv_comparison.png", DOCS / "strategies.png")
