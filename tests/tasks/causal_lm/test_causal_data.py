"""The causal-LM data module: rows in any of the three shapes from CSV, Parquet, JSONL or a
saved 🤗 dataset, carved splits, rendering once with the truncated rows counted in one log
line, the held-out prompts evaluation generates for, and batches padded by position."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from helpers.chat import ASSET, write_rows
from sft.tasks.causal_lm.data import CausalLMDataModule
from sft.tasks.causal_lm.render import IGNORE

Q = {"role": "user", "content": "What is the capital of France?"}
A = {"role": "assistant", "content": "Paris."}


@pytest.fixture(scope="module")
def tokenizer():
    from sft.model.backbone import load_tokenizer

    return load_tokenizer(ASSET)


def loaded(train, tokenizer, **options):
    data = CausalLMDataModule("chat", str(train), **options)
    data.load()
    data.encode(tokenizer, 64, None)
    return data


def test_a_csv_may_mix_text_and_prompt_rows(tmp_path, tokenizer):
    frame = pd.DataFrame(
        {"text": ["Once upon a time.", None], "prompt": [None, "Hi"], "completion": [None, "Yo"]}
    )
    frame.to_csv(tmp_path / "rows.csv", index=False)
    data = loaded(tmp_path / "rows.csv", tokenizer, train_on="all", val_fraction=0)
    assert data.examples["train"].labels == ["text", "prompt_completion"]
    assert len(data.datasets["train"]) == 2


def test_a_csv_messages_cell_of_json_text_trains_like_the_jsonl_row(tmp_path, tokenizer):
    """The docs' promise: in a CSV a `messages` cell is JSON text (it was refused as not a
    list); text that is not JSON is one line naming the file and row."""
    import json

    rows = [{"messages": [Q, A]}, {"messages": [Q, A, Q, A]}]
    pd.DataFrame({"messages": [json.dumps(r["messages"]) for r in rows]}).to_csv(
        tmp_path / "rows.csv", index=False
    )
    write_rows(tmp_path / "rows.jsonl", rows)
    csv = loaded(tmp_path / "rows.csv", tokenizer, val_fraction=0)
    jsonl = loaded(tmp_path / "rows.jsonl", tokenizer, val_fraction=0)
    for a, b in zip(csv.datasets["train"].input_ids, jsonl.datasets["train"].input_ids):
        assert a.tolist() == b.tolist()
    pd.DataFrame({"messages": ["[{not json"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(Exception, match=r"bad\.csv row 1: 'messages' is text but not JSON"):
        loaded(tmp_path / "bad.csv", tokenizer, val_fraction=0)


def test_parquet_conversations_and_a_saved_dataset_read_alike(tmp_path, tokenizer):
    import datasets

    rows = [{"messages": [Q, A]}, {"messages": [Q, A, Q, A]}]
    pd.DataFrame(rows).to_parquet(tmp_path / "rows.parquet")
    splits = {"train": rows, "validation": rows[:1], "test": rows[1:]}
    datasets.DatasetDict(
        {name: datasets.Dataset.from_list(part) for name, part in splits.items()}
    ).save_to_disk(str(tmp_path / "saved"))
    parquet = loaded(tmp_path / "rows.parquet", tokenizer, val_fraction=0)
    saved = loaded(tmp_path / "saved", tokenizer)
    assert set(saved.datasets) == {"train", "val", "test"}  # its own splits, none carved
    for a, b in zip(parquet.datasets["train"].input_ids, saved.datasets["train"].input_ids):
        assert a.tolist() == b.tolist()
    assert saved.held_out["test"][0][0] == Q["content"] and saved.held_out["test"][0][2] == "Paris."


def test_truncated_rows_are_counted_in_one_line_and_keep_their_answer(tmp_path, tokenizer, caplog):
    rows = [
        {"prompt": "Say hello " * 30, "completion": "Hello!"},
        {"prompt": "Hi", "completion": "Yo"},
    ]
    path = write_rows(tmp_path / "rows.jsonl", rows)
    with caplog.at_level(logging.WARNING):
        data = loaded(path, tokenizer, val_fraction=0, max_length=24)
    lines = [r.getMessage() for r in caplog.records if "max_length" in r.getMessage()]
    assert lines == [
        "train split: 1 of 2 rows are longer than data.max_length=24 tokens: they lost tokens "
        "from the left of their prompt (data.truncation=left; refuse: stop instead)"
    ]
    assert data.truncated == {"train": 1}
    first = data.datasets["train"]
    assert len(first.input_ids[0]) == 24
    answer = [t for t in first.labels[0] if t != IGNORE]
    assert tokenizer.decode(answer) == "Hello!<|im_end|>"


def test_held_out_rows_are_the_first_with_an_answer(tmp_path, tokenizer):
    pairs = [{"prompt": f"Q{i}", "completion": f"A{i}"} for i in range(5)]
    rows = [{"text": "Plain text."}, *pairs]
    val = write_rows(tmp_path / "val.jsonl", rows)
    data = CausalLMDataModule(
        "chat", str(val), val_path=str(val), train_on="all", generation={"rows": 2}
    )
    data.load()
    data.encode(tokenizer, 64, None)
    assert [(p, r) for p, _, r in data.held_out["val"]] == [("Q0", "A0"), ("Q1", "A1")]
    assert data.spec_fields()["generation"] == {"max_new_tokens": 32, "num_beams": 1}


def test_batches_pad_by_position_so_eos_stays_trained(tmp_path, tokenizer):
    rows = [{"prompt": "Hi", "completion": "Yo"}, {"prompt": "Say hello to me", "completion": "Hi"}]
    data = loaded(write_rows(tmp_path / "rows.jsonl", rows), tokenizer, val_fraction=0)
    batch = data._collate()(data.datasets["train"].__getitems__([0, 1]))
    eos = tokenizer.eos_token_id
    assert tokenizer.pad_token_id == eos
    short = int(np.argmin([len(x) for x in data.datasets["train"].input_ids]))
    mask, labels = batch["attention_mask"][short], batch["labels"][short]
    assert (labels[mask == 0] == IGNORE).all()
    assert (batch["input_ids"][short][mask == 0] == eos).all()
    assert eos in labels[mask == 1].tolist()  # the end-of-turn token is trained
