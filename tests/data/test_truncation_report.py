"""The data report and the model card count a text as cut by `model.max_length` only when it
has more tokens than that: one of exactly `max_length` tokens fits whole."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sft.data.module import TextDataModule
from sft.model.backbone import load_tokenizer
from sft.tasks.sequence import SEQUENCE
from sft.training.data_report import write_data_report
from sft.training.model_card import data_lines


@pytest.fixture
def encoded(tiny_model_dir, tmp_path):
    """10 texts of a word-level vocabulary (a word is a token, plus [CLS] and [SEP]): 4 of
    exactly 8 tokens, 3 of 11 (cut at max_length=8), 3 of 5."""
    texts = ["the drug it was my pill"] * 4 + ["the drug it was my pill and the day"] * 3
    texts += ["the day felt"] * 3
    labels = ["good", "bad"] * 5
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    module = TextDataModule("toy", str(path), val_fraction=0.0)
    module.load(SEQUENCE)
    module.encode(load_tokenizer(str(tiny_model_dir)), 8, None)
    return module


def test_a_text_of_exactly_max_length_tokens_is_not_counted_as_cut(encoded, tmp_path):
    assert sorted(len(ids) for ids in encoded.datasets["train"].input_ids) == [5] * 3 + [8] * 7
    write_data_report(encoded, 8, tmp_path)
    train = json.loads((tmp_path / "data_report.json").read_text())["splits"]["train"]
    assert train["truncated_share"] == pytest.approx(0.3)  # the 3 of 11 tokens, not 7 of 10
    assert train["tokens"]["p100"] == 11  # lengths before truncation, not capped at 8
    assert train["tokens"]["p0"] == 5
    assert "| 30.0% |" in (tmp_path / "data_report.md").read_text()
    assert (
        "- truncation: 30.0% of the train texts are longer than max_length=8 tokens and were cut"
        in data_lines(encoded, 8)
    )
