"""The data report a run writes before it trains (sft.data.report computes it): label
counts, lengths and truncation, empty texts, duplicates and cross-split leakage, as JSON and
Markdown artifacts, and one warning line per pair of splits that share examples."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sft.data.report import data_report, leakage_warnings

log = logging.getLogger(__name__)


def write_data_report(datamodule, max_length: int, run_dir: Path) -> list[Path]:
    """`data_report.json` and `data_report.md` (sft.data.report) for the loaded, encoded
    splits (token lengths before truncation for text models, characters always); log one
    warning line per pair of splits that share examples."""
    # the lengths before truncation: a text of exactly max_length tokens was not cut
    tokens = datamodule.untruncated_lengths() if datamodule.modality == "text" else None
    report = data_report(
        datamodule.examples,
        datamodule.labels.kind,
        getattr(datamodule, "label_separator", ","),
        tokens,
        max_length,
    )
    for line in leakage_warnings(report):
        log.warning(line)
    json_path, md_path = run_dir / "data_report.json", run_dir / "data_report.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(data_report_markdown(report))
    return [json_path, md_path]


def data_report_markdown(report: dict) -> str:
    """The data report as a Markdown page: one table row per split, then the findings."""
    has_tokens = any("tokens" in s for s in report["splits"].values())
    unit = "tokens" if has_tokens else "chars"
    lines = [
        "# Data report",
        "",
        f"| split | examples | {unit} p50 | {unit} p95 | {unit} max | cut by max_length "
        "| empty | near-empty | duplicates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["splits"].items():
        q = s.get(unit, {})
        cut = f"{s['truncated_share']:.1%}" if "truncated_share" in s else "-"
        lines.append(
            f"| {name} | {s['examples']} | {q.get('p50', '-')} | {q.get('p95', '-')} | "
            f"{q.get('p100', '-')} | {cut} | {s['empty']} | {s['near_empty']} | "
            f"{s['duplicates']} |"
        )
    lines += ["", "## Labels", ""]
    for name, s in report["splits"].items():
        counts = s["labels"]
        lines.append(
            f"- {name}: "
            + (
                ", ".join(f"{k} {v}" for k, v in counts.items())
                if counts is not None
                else "(regression)"
            )
        )
    lines += ["", "## Shared between splits (leakage)", ""]
    lines += leakage_warnings(report) or ["none"]
    return "\n".join(lines) + "\n"
