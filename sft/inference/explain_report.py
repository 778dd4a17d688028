"""What people look at rather than read: explanations (sft.inference.explain) as an HTML page
of highlighted words, a CSV of word scores, and a per-class view of the words with the
highest mean attribution.

The page is one self-contained file (inline CSS, no script, no external resource); every
piece of text is HTML-escaped, so a review that holds markup shows it as text.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

HTML_FILE = "explanations.html"
CSV_FILE = "explanations.csv"
CLASS_CSV = "class_words.csv"
CLASS_HTML = "class_words.html"
_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.9}"
    ".ex{border-bottom:1px solid #ccc;padding:.6em 0}.meta{color:#555;font-size:.85em}"
    "span.w{border-radius:3px;padding:1px 2px}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
)


def word_table(explanations: list[dict], ids: list | None = None) -> pd.DataFrame:
    """One row per word of every explanation: `example` (its id, default its position),
    `word_index`, `word`, `start`, `end`, `score`, and the example's `target`, `predicted`,
    `probability`, `logit`, `baseline_logit`, `delta`."""
    rows = []
    for n, found in enumerate(explanations):
        meta = {k: found[k] for k in ("target", "predicted", "probability", "logit")}
        meta.update(baseline_logit=found["baseline_logit"], delta=found["delta"])
        for i, word in enumerate(found["words"]):
            rows.append({"example": ids[n] if ids else n, "word_index": i, **word, **meta})
    columns = ["example", "word_index", "word", "start", "end", "score", "target", "predicted"]
    columns += ["probability", "logit", "baseline_logit", "delta"]
    return pd.DataFrame(rows, columns=columns)


def class_words(explanations: list[dict], top: int = 15, min_count: int = 1) -> pd.DataFrame:
    """Per target class, the `top` words (lower-cased) with the highest mean score over
    their occurrences in the explanations of that class (seen at least `min_count` times):
    columns `target`, `word`, `mean_score`, `count`. A global view: which words the model
    leans on for each class, over many examples."""
    table = word_table(explanations)
    if table.empty:
        return pd.DataFrame(columns=["target", "word", "mean_score", "count"])
    table["word"] = table["word"].str.lower()
    table["target"] = table["target"].astype(str)
    grouped = table.groupby(["target", "word"])["score"].agg(["mean", "count"]).reset_index()
    grouped = grouped[grouped["count"] >= min_count].rename(columns={"mean": "mean_score"})
    grouped = grouped.sort_values(["target", "mean_score"], ascending=[True, False])
    return grouped.groupby("target").head(top).reset_index(drop=True)


def page(explanations: list[dict], title: str, headings: list[str] | None = None) -> str:
    """The HTML page: per explanation a header (its heading, target, prediction,
    probability, delta) and the text with each word's background green (for the target)
    or red (against it), its strength the score over the example's largest |score|; a
    word's score shows on hover."""
    blocks = [f"<h1>{html.escape(title)}</h1>", _legend()]
    for n, found in enumerate(explanations):
        heading = headings[n] if headings else f"#{n}"
        blocks.append(
            f'<div class="ex"><div class="meta">{html.escape(str(heading))} · '
            f"{html.escape(_summary(found))}</div><div>{_highlighted(found)}</div></div>"
        )
    return _document(title, "\n".join(blocks))


def class_page(table: pd.DataFrame, title: str) -> str:
    """The per-class view (`class_words`) as an HTML table."""
    body = table.to_html(index=False, escape=True, float_format=lambda v: f"{v:+.4f}")
    return _document(title, f"<h1>{html.escape(title)}</h1>\n{body}")


def write(
    explanations: list[dict],
    folder: Path,
    title: str,
    ids: list | None = None,
    headings: list[str] | None = None,
    top: int = 15,
) -> list[Path]:
    """Write the page, the word CSV and the per-class view (CSV and HTML) into `folder`;
    return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in (HTML_FILE, CSV_FILE, CLASS_CSV, CLASS_HTML)]
    paths[0].write_text(page(explanations, title, headings), encoding="utf-8")
    word_table(explanations, ids).to_csv(paths[1], index=False)
    view = class_words(explanations, top)
    view.to_csv(paths[2], index=False)
    paths[3].write_text(class_page(view, f"{title}: words per class"), encoding="utf-8")
    return paths


def _summary(found: dict) -> str:
    parts = [] if found["target"] is None else [f"explains '{found['target']}'"]
    if found["probability"] is not None:
        parts.append(f"p={found['probability']:.3f}")
    parts.append(f"predicted '{found['predicted']}'")
    parts.append(f"logit {found['logit']:+.3f} (baseline {found['baseline_logit']:+.3f})")
    parts.append(f"delta {found['delta']:+.2e}")
    if found.get("truncated"):
        parts.append("truncated: words past max_length were not read")
    return ", ".join(parts)


def _highlighted(found: dict) -> str:
    """The text, its words wrapped in coloured spans; the characters between words as they
    are (escaped)."""
    text, words = found["text"], found["words"]
    scale = max((abs(w["score"]) for w in words), default=0.0) or 1.0
    out, at = [], 0
    for word in words:
        out.append(html.escape(text[at : word["start"]]))
        strength = min(abs(word["score"]) / scale, 1.0)
        colour = "0,160,60" if word["score"] >= 0 else "220,40,40"
        out.append(
            f'<span class="w" style="background:rgba({colour},{strength:.2f})" '
            f'title="{word["score"]:+.4f}">{html.escape(text[word["start"] : word["end"]])}</span>'
        )
        at = word["end"]
    out.append(html.escape(text[at:]))
    return "".join(out)


def _legend() -> str:
    return (
        '<p class="meta"><span class="w" style="background:rgba(0,160,60,.8)">green</span> '
        'pushes towards the explained label, <span class="w" style="background:rgba(220,40,'
        '40,.8)">red</span> away from it (integrated gradients of its logit; hover a word for '
        "its score; scores sum to logit - baseline logit, up to delta).</p>"
    )


def _document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
