"""End to end on the tiny BERT: token classification trains, logs entity metrics (micro and
per type) to MLflow, saves a model that `sft.load` and the served MLflow model turn into
entities with character spans; a broken tag sequence stops `sft-train` with one line."""

from __future__ import annotations

import random

import pytest

import sft
from conftest import FILLER, WORDS, mlflow_runs, run_sft
from helpers.tokens import write_conll

# Entities from the tiny model's word-level vocabulary: one-word POS and NEG entities, and
# two-word DOSE entities ("pill day").
ENTITY = {"positive": "POS", "negative": "NEG"}


def tagged_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        words = [(w, "O") for w in rng.sample(FILLER[:6], rng.randint(2, 5))]
        for label, kind in ENTITY.items():
            if rng.random() < 0.7:
                words.insert(rng.randrange(len(words) + 1), (rng.choice(WORDS[label]), f"B-{kind}"))
        if rng.random() < 0.5:
            at = rng.randrange(len(words) + 1)
            words[at:at] = [("pill", "B-DOSE"), ("day", "I-DOSE")]
        sentences.append(words)
    return sentences


def overrides(model_dir, folder, out) -> list[str]:
    return [
        "model=hf",
        f"model.name_or_path={model_dir}",
        "model.max_length=32",
        "data=token_conll",
        f"data.train_path={folder / 'train.conll'}",
        f"data.test_path={folder / 'test.conll'}",
        "data.val_fraction=0.2",
        "optimizer.lr=5e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=8",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One real run of the config tree: data=token_conll on the tiny BERT."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.train import train_task

    folder = tmp_path_factory.mktemp("tagged")
    write_conll(folder / "train.conll", tagged_sentences(160, seed=1))
    write_conll(folder / "test.conll", tagged_sentences(40, seed=2))
    out = tmp_path_factory.mktemp("token-run")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(tiny_model_dir, folder, out))
    best = train_task(cfg)
    client, runs = mlflow_runs(out, "token_conll")
    return {"out": out, "best": best, "client": client, "run": runs[0], "folder": folder}


def test_it_learns_and_logs_entity_metrics(trained):
    metrics = trained["run"].data.metrics
    assert metrics["test/f1"] > 0.9, metrics
    assert metrics["test/token_accuracy"] > 0.9
    for key in (
        "val/f1",
        "val/precision",
        "val/recall",
        "test/precision",
        "test/recall",
        "test/per_class/f1/POS",
        "test/per_class/f1/NEG",
        "test/per_class/f1/DOSE",
    ):
        assert key in metrics, key
    assert trained["run"].data.tags["sft.task"] == "token_classification"
    assert trained["best"] == pytest.approx(
        max(
            m.value
            for m in trained["client"].get_metric_history(trained["run"].info.run_id, "val/f1")
        )
    )


def test_saved_model_predicts_entities_with_spans(trained):
    import json

    import sft

    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "token_classification" and spec["scheme"] == "iob2"
    assert spec["labels"][0] == "O" and spec["pooling"] == "none"
    text = "the  drug was great\tit was awful  pill day "
    record = sft.load(model_dir).predict([text, ""])
    found = [(e["type"], e["text"]) for e in record[0]["entities"]]
    assert found == [("POS", "great"), ("NEG", "awful"), ("DOSE", "pill day")]
    for entity in record[0]["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert 0 < entity["score"] <= 1
    assert record[1] == {"entities": [], "truncated_words": 0}


def test_served_mlflow_model_returns_entities(trained):
    import mlflow
    import pandas as pd

    run = trained["run"]
    mlflow.set_tracking_uri(f"sqlite:///{trained['out']}/mlflow.db")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = model.predict(pd.DataFrame({"text": ["it was my good drug"]}))
    entities = out[0]["entities"] if isinstance(out, list) else out.iloc[0]["entities"]
    assert [(e["type"], e["text"]) for e in entities] == [("POS", "good")]


def test_broken_tag_sequence_is_one_line_and_exit_2(tiny_model_dir, tmp_path):
    write_conll(tmp_path / "train.conll", [[("the", "O"), ("good", "I-POS")]] * 4)
    write_conll(tmp_path / "test.conll", [[("the", "O")]])
    done = run_sft("train", *overrides(tiny_model_dir, tmp_path, tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith(
        f"{tmp_path / 'train.conll'} sentence 1 token 2 ('good'): 'I-POS' "
        f"follows 'O': an I-POS must follow B-POS or I-POS (broken IOB2 "
        f"sequence)"
    ), lines[-3:]


def test_onnx_export_gives_the_same_entities(trained, tmp_path):
    model_dir = trained["out"] / "run" / "model"
    out = tmp_path / "onnx"
    done = run_sft("export", f"model_uri={model_dir}", f"out={out}", "format=onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    texts = ["the drug was great it was awful pill day", "it was my good drug", ""]
    exported = sft.load(out)
    assert exported.backend == "onnx"
    expected, got = sft.load(model_dir).predict(texts), exported.predict(texts)
    for a, b in zip(expected, got):
        assert [(e["type"], e["start"], e["end"]) for e in a["entities"]] == [
            (e["type"], e["start"], e["end"]) for e in b["entities"]
        ]
        assert all(
            abs(x["score"] - y["score"]) < 1e-4 for x, y in zip(a["entities"], b["entities"])
        )
    # Every word's tag logits were compared (the parity line) before the folder landed.
    assert "max abs difference" in done.stdout


def test_registered_model_predicts_a_table_and_serves_entities_over_http(trained, tmp_path):
    """The registered version (models:/...) through sft-predict (a CSV whose entities cell is
    JSON) and sft-serve (an HTTP request answered with entities and their spans)."""
    import csv
    import json
    import os
    import sys

    from conftest import PROJECT_ROOT
    from helpers.servers import free_port, serve_and_ask

    uri = trained["run"].data.tags["sft.model_uri"]
    assert uri.startswith("models:/"), uri
    tracking = f"tracking_uri=sqlite:///{trained['out']}/mlflow.db"
    (tmp_path / "in.csv").write_text("text\nit was my good drug\nthe pill day was awful\n")
    done = run_sft(
        "predict", f"model_uri={uri}", tracking, "input=in.csv", "output=out.csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "out.csv") as table:
        rows = list(csv.DictReader(table))
    entities = [json.loads(row["pred_entities"]) for row in rows]
    assert [(e["type"], e["text"]) for e in entities[0]] == [("POS", "good")]
    text = rows[1]["text"]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities[1])

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [sys.executable, "-m", "sft.serve", f"model_uri={uri}", tracking, f"port={port}"]
    answer = serve_and_ask(argv, port, ["my good drug", "awful"], tmp_path, env)
    first, second = answer["predictions"]
    assert [(e["type"], e["start"], e["end"], e["text"]) for e in first["entities"]] == [
        ("POS", 3, 7, "good")
    ]
    assert [(e["type"], e["text"]) for e in second["entities"]] == [("NEG", "awful")]
