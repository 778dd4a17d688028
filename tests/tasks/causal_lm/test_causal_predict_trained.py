"""After training, for a causal LM: the registered MLflow model generates (tables, chat and
completions requests through MLflow's scoring server code), the model card says what the
model was tuned on and how it was evaluated and its transformers-only snippet generates as
sft.load does, and a full fine-tune and a LoRA adapter (finetune.save=adapter) generate after
saving as the trained module did before."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import sft
from helpers.chat import ASSET, chat_overrides, compose_train, hello_rows, write_rows
from sft.tasks.causal_lm.generate import generate, prompt_ids

QUESTIONS = ["Say hello to stone.", "Say hello to music."]


def run(tmp_path_factory, name: str, *extra: str):
    """A short run of the toy task (any greeting request -> "Hello!") on the tiny chat Llama."""
    from sft.training.run import train

    data = tmp_path_factory.mktemp(f"{name}-data")
    rows = hello_rows(48, seed=1)
    train_file = write_rows(data / "train.jsonl", rows[:40])
    val_file = write_rows(data / "val.jsonl", rows[40:44])
    test_file = write_rows(data / "test.jsonl", rows[44:])
    out = tmp_path_factory.mktemp(name)
    overrides = chat_overrides(
        train_file,
        val_file,
        out,
        f"data.test_path={test_file}",
        "trainer.max_epochs=4",
        "optimizer.lr=3e-3",
        "data.generation.max_new_tokens=8",
        "data.generation.rows=2",
        *extra,
    )
    return train(compose_train(overrides)), out


def module_generations(result, questions=QUESTIONS, max_new_tokens: int = 8) -> list[str]:
    """What the trained module (before saving) generates for `questions`."""
    tokenizer = result.datamodule.tokenizer
    ids = [prompt_ids({"prompt": q}, tokenizer) for q in questions]
    return generate(result.module.backbone.encoder, tokenizer, ids, max_new_tokens)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A full fine-tune, logged to MLflow and registered."""
    result, out = run(tmp_path_factory, "full")
    return {"result": result, "out": out, "model_dir": out / "run" / "model"}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """LoRA kept as an adapter (finetune.save=adapter) over a base folder (seeded weights of
    the asset's architecture, saved: an adapter needs its base in a folder)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from sft.model.backbone import resolve_model_path

    base = tmp_path_factory.mktemp("base") / "llama"
    torch.manual_seed(0)
    path = resolve_model_path(ASSET)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)).save_pretrained(base)
    AutoTokenizer.from_pretrained(path).save_pretrained(base)
    result, out = run(
        tmp_path_factory, "adapter", f"model.name_or_path={base}", "model.init=pretrained",
        "finetune=lora", "finetune.save=adapter", "logger=none",
    )  # fmt: skip
    return {"result": result, "base": base, "model_dir": out / "run" / "model"}


def test_the_saved_full_fine_tune_generates_as_the_trained_module(full):
    before = module_generations(full["result"])
    assert before == ["Hello!", "Hello!"]  # the toy task was learned: a test that can fail
    assert sft.load(full["model_dir"]).generate(QUESTIONS) == before


def test_the_registered_model_generates_for_tables_chat_and_completions(full):
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    run = full["result"]
    mlflow.set_tracking_uri(f"sqlite:///{full['out']}/mlflow.db")
    client = mlflow.MlflowClient()
    (registered,) = client.search_registered_models()
    uri = f"models:/{registered.name}/1"
    model = mlflow.pyfunc.load_model(uri)
    assert model.metadata.signature.inputs is None  # chat, completions and tables
    local = Path(mlflow.artifacts.download_artifacts(uri))
    example = json.loads((local / "input_example.json").read_text())
    # the test split's prompts, without their answers
    assert example == {"inputs": [r["prompt"] for r in hello_rows(48, seed=1)[44:46]]}
    assert model.predict(QUESTIONS) == [{"text": "Hello!"}] * 2
    assert model.predict(pd.DataFrame({"prompt": QUESTIONS})) == [{"text": "Hello!"}] * 2
    assert run.module is not None

    def ask(body: dict) -> tuple[int, dict]:
        """The server's status and JSON answer (an MlflowException is its error answer)."""
        try:
            answer = scoring_server.invocations(
                json.dumps(body), "application/json", model, model.metadata.get_input_schema()
            )
        except MlflowException as err:
            return err.get_http_status_code(), json.loads(err.serialize_as_json())
        return answer.status, json.loads(answer.response)

    chat = {"messages": [{"role": "user", "content": QUESTIONS[0]}], "max_tokens": 8}
    status, body = ask(chat)
    assert status == 200, body
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello!"}
    status, body = ask({"prompt": QUESTIONS, "max_tokens": 8})
    assert status == 200 and [c["text"] for c in body["choices"]] == ["Hello!"] * 2
    status, body = ask({"inputs": QUESTIONS, "params": {"max_new_tokens": 1}})
    assert status == 200 and len(body["predictions"]) == 2
    assert all(p["text"] != "Hello!" for p in body["predictions"])  # one token is too few
    status, body = ask({"dataframe_split": {"columns": ["prompt"], "data": [[QUESTIONS[0]]]}})
    assert status == 200 and body["predictions"] == [{"text": "Hello!"}]
    # Rows of different shapes in one request (the server hands them over as numpy arrays;
    # it failed with "iteration over a 0-d array").
    mixed = [{"prompt": QUESTIONS[0]}, {"messages": [{"role": "user", "content": QUESTIONS[1]}]}]
    status, body = ask({"inputs": mixed})
    assert status == 200 and body["predictions"] == [{"text": "Hello!"}] * 2, body
    for bad, message in (
        ({"messages": [{"role": "bot", "content": "hi"}]}, "unknown role 'bot'"),
        ({"messages": "hi"}, "'messages' must be a non-empty list"),
        ({**chat, "max_tokens": 0}, "max_new_tokens=0: must be between 1 and"),
        ({"prompt": "hi", "top_k": 3}, "unknown request field 'top_k'"),
    ):
        status, body = ask(bad)
        assert status == 400 and message in body["message"], body


def test_the_card_says_what_it_was_tuned_on_and_how_it_was_evaluated(full):
    card = (full["model_dir"] / "README.md").read_text()
    assert "pipeline_tag: text-generation" in card
    assert "## Tuning" in card and "## Evaluation" in card
    assert "train rows by shape: prompt_completion 40" in card
    assert "data.train_on=completion" in card and "Rows of at most 256 tokens" in card
    assert "the tokenizer's chat template" in card
    assert "greedy decoding, at most 8 new tokens" in card and "val 2, test 2" in card
    assert re.search(r"test/exact_match 1\.0000", card)
    assert "with the labels above" not in card  # the classifier's wording is not used


def test_the_cards_transformers_snippet_generates_as_sft_load(full, capsys):
    card = (full["model_dir"] / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    snippet = snippet.replace("<this folder>", str(full["model_dir"]))
    snippet = snippet.replace("Which drug is this review about? ...", QUESTIONS[1])
    assert "add_special_tokens=True" in snippet  # the template writes no BOS: the tokenizer's
    capsys.readouterr()
    exec(compile(snippet, "card", "exec"), {})
    assert capsys.readouterr().out.strip() == "Hello!"


def test_a_lora_adapter_folder_generates_as_the_trained_module(adapter):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = adapter["model_dir"]
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= names
    assert "model.safetensors" not in names
    spec = json.loads((folder / "sft_model.json").read_text())
    assert spec["lora"]["merged"] is False and spec["lora"]["base"] == str(adapter["base"])
    before = module_generations(adapter["result"])
    assert sft.load(folder).generate(QUESTIONS) == before
    # transformers alone (its peft integration) reads the adapter folder and its base
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = [prompt_ids({"prompt": q}, tokenizer) for q in QUESTIONS]
    assert generate(model, tokenizer, ids, 8) == before
    plain = AutoModelForCausalLM.from_pretrained(adapter["base"])
    assert generate(plain, tokenizer, ids, 8) != before  # the adapter matters


def test_sft_serve_answers_a_chat_request_over_http(full, tmp_path):
    import os
    import sys

    import mlflow

    from conftest import PROJECT_ROOT
    from helpers.servers import free_port, serve_and_ask

    client = mlflow.MlflowClient(f"sqlite:///{full['out']}/mlflow.db")
    (registered,) = client.search_registered_models()
    uri = f"models:/{registered.name}/1"
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    argv = [
        sys.executable, "-m", "sft.serve", f"model_uri={uri}",
        f"tracking_uri=sqlite:///{full['out']}/mlflow.db", f"port={port}",
    ]  # fmt: skip
    chat = {"messages": [{"role": "user", "content": QUESTIONS[0]}], "max_tokens": 8}
    answer = serve_and_ask(argv, port, [], tmp_path, env, body=chat)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "Hello!"
