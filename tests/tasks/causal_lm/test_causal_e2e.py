"""End to end through sft-train's entry point: `sft-train model=llama_chat data=chat` on tiny
JSONL files trains the tiny chat Llama (pad == eos) on a toy task, logs the validation loss,
perplexity, token accuracy, exact match and ROUGE-L every epoch, tests, writes the
generations table as an MLflow artifact and registers a model that generates."""

from __future__ import annotations

import json
import math

import pytest

import sft
from conftest import mlflow_runs, run_train_in_process
from helpers.chat import chat_overrides, hello_rows, write_rows

EPOCHS = 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp("chat-data")
    out = tmp_path_factory.mktemp("chat-run")
    rows = hello_rows(48, seed=1)
    train = write_rows(data / "train.jsonl", rows[:40])
    val = write_rows(data / "val.jsonl", rows[40:44])
    # the test split as conversations: the other shape renders to the same prompts
    chats = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in ((r["prompt"], r["completion"]) for r in rows[44:])
    ]
    test = write_rows(data / "test.jsonl", chats)
    args = chat_overrides(
        train,
        val,
        out,
        f"data.test_path={test}",
        f"trainer.max_epochs={EPOCHS}",
        "optimizer.lr=3e-3",
        "data.generation.max_new_tokens=8",
        "data.generation.rows=3",
    )
    code, stderr = run_train_in_process(*args)
    assert code == 0, stderr[-3000:]
    client, runs = mlflow_runs(out, "chat")
    return {"client": client, "run": runs[0], "out": out}


def test_it_logs_loss_perplexity_accuracy_and_generation_scores(trained):
    client, run = trained["client"], trained["run"]
    run_id = run.info.run_id
    for name in ("loss", "perplexity", "token_accuracy", "exact_match", "rougeL"):
        key = f"val/{name}"
        assert len(client.get_metric_history(run_id, key)) == EPOCHS, key
    losses = [m.value for m in client.get_metric_history(run_id, "train/loss_epoch")]
    assert losses[-1] < 0.8 * losses[0], losses
    metrics = run.data.metrics
    assert metrics["test/perplexity"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-4)
    assert metrics["test/exact_match"] == 1.0 and metrics["test/rougeL"] == 1.0  # learned
    assert run.data.params["monitor.metric"] == "val/loss"


def test_the_generations_table_is_an_artifact(trained):
    client, run = trained["client"], trained["run"]
    local = client.download_artifacts(run.info.run_id, "tables/test_generations.json")
    with open(local) as file:
        table = json.load(file)
    assert table["columns"] == ["prompt", "reference", "generation", "exact"]
    assert len(table["data"]) == 3
    prompt, reference, generation, exact = table["data"][0]
    assert prompt.startswith("Say hello to ") and reference == "Hello!"
    assert generation == "Hello!" and exact is True


def test_the_saved_model_generates_as_evaluation_did(trained):
    model_dir = trained["out"] / "run" / "model"
    spec = json.loads((model_dir / "sft_model.json").read_text())
    assert spec["task"] == "causal_lm" and spec["auto_class"] == "AutoModelForCausalLM"
    assert spec["generation"] == {"max_new_tokens": 8, "num_beams": 1}
    predictor = sft.load(model_dir)
    assert predictor.predict(["Say hello to stone."]) == [{"text": "Hello!"}]
