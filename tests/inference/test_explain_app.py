"""`sft-explain`: the page, the tables and the MLflow run it writes, as a user runs it."""

from __future__ import annotations

import pandas as pd

from conftest import mlflow_runs, run_sft
from helpers.saved_models import build
from sft.inference.explain_report import CLASS_CSV, CLASS_HTML, CSV_FILE, HTML_FILE
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model


def test_sft_explain_writes_an_escaped_page_and_tables_and_logs_them(tiny_model_dir, tmp_path):
    module = build(tiny_model_dir, "multiclass")
    folder = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, tmp_path / "model"
    )
    texts = ["the drug was <b>good</b> & great", "bad pill", "okay week", "plain day"]
    pd.DataFrame({"review": texts}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "explained"
    done = run_sft(
        "explain",
        f"model_uri={folder}",
        f"input={tmp_path / 'in.csv'}",
        "text_column=review",
        "limit=3",
        "n_steps=16",
        f"out_dir={out}",
        "progress=false",
        "log=true",
        f"tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Explained 3 texts" in done.stderr
    page = (out / HTML_FILE).read_text()
    assert "<b>" not in page and "&lt;" in page and "&amp;" in page  # escaped text
    assert "<script" not in page and "http" not in page  # self-contained
    assert page.count('<div class="ex">') == 3
    table = pd.read_csv(out / CSV_FILE)
    assert sorted(set(table["example"])) == [0, 1, 2]
    # completeness per example: the word scores add up to logit - baseline logit
    for _, rows in table.groupby("example"):
        gap = rows["logit"].iloc[0] - rows["baseline_logit"].iloc[0]
        assert abs(rows["score"].sum() - gap) < 1e-3
    view = pd.read_csv(out / CLASS_CSV)
    assert list(view.columns) == ["target", "word", "mean_score", "count"]
    assert set(view["target"]) <= {"negative", "neutral", "positive"}
    assert (out / CLASS_HTML).read_text().startswith("<!DOCTYPE html>")
    client, runs = mlflow_runs(tmp_path, "sft-explain")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    logged = {a.path for a in client.list_artifacts(runs[0].info.run_id, "explanations")}
    assert logged == {f"explanations/{n}" for n in (HTML_FILE, CSV_FILE, CLASS_CSV, CLASS_HTML)}
    assert runs[0].data.metrics["explain/texts"] == 3
    assert runs[0].data.metrics["explain/max_abs_delta"] < 1e-3
