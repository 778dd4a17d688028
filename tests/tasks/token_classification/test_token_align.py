"""Words -> subword inputs: labels on first subwords, truncation counted, spans that index the
text, the pad collator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.tokens import wordpiece_tokenizer
from sft.tasks.token_classification.align import (
    encode_words,
    first_subword_positions,
    tokenize_words,
    word_offsets,
)
from sft.tasks.token_classification.collate import TagPadCollator
from sft.tasks.token_classification.entities import decode_entities, split_words, word_predictions


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return wordpiece_tokenizer(tmp_path_factory.mktemp("wordpiece"))


def test_first_subword_carries_the_label_the_rest_minus_100(tokenizer, tmp_path):
    words = [["aspirin", "helped", "my", "headaches"], ["ibuprofen", "."]]
    labels = [[1, 0, 0, 3], [1, 0]]
    encoded = encode_words(words, tokenizer, 32, labels, cache_dir=tmp_path)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[0].tolist())
    assert tokens == ["[CLS]", "asp", "##irin", "helped", "my", "headache", "##s", "[SEP]"]
    assert encoded.labels[0].tolist() == [-100, 1, -100, 0, 0, 3, -100, -100]
    assert encoded.labels[1].tolist() == [-100, 1, -100, -100, 0, -100]  # ibu ##pro ##fen .
    assert encoded.word_ids[0].tolist() == [-1, 0, 0, 1, 2, 3, 3, -1]
    assert encoded.truncated == [0, 0]
    assert list((tmp_path / "word_tokens").glob("*.arrow"))  # cached on disk
    again = encode_words(words, tokenizer, 32, labels, cache_dir=tmp_path)
    assert [a.tolist() for a in again.labels] == [a.tolist() for a in encoded.labels]
    plain = tokenize_words(words, tokenizer, 32, labels)  # prediction's path: no cache
    assert [a.tolist() for a in plain.labels] == [a.tolist() for a in encoded.labels]


def test_truncation_counts_the_words_cut_off(tokenizer):
    words = [["aspirin", "helped", "my", "headaches", "with", "the", "fever"]]
    encoded = tokenize_words(words, tokenizer, 6, [[1, 0, 0, 3, 0, 0, 3]])
    # [CLS] asp ##irin helped my [SEP]: "headaches" onwards (4 words) has no token
    assert encoded.truncated == [4]
    assert (encoded.labels[0] != -100).sum() == 3
    positions = first_subword_positions(encoded.word_ids[0], 7)
    assert positions.tolist() == [1, 3, 4, -1, -1, -1, -1]


def test_word_offsets_index_the_joined_words():
    words = ["Aspirin", "helped", "my", "headache", "."]
    text = " ".join(words)
    assert [text[s:e] for s, e in word_offsets(words)] == words


def test_raw_text_words_and_entity_spans_round_trip():
    text = "  Aspirin helped my  bad headache,\tthanks Dr. O'Neil!"
    words, offsets = split_words(text)
    assert words == [
        "Aspirin",
        "helped",
        "my",
        "bad",
        "headache",
        ",",
        "thanks",
        "Dr",
        ".",
        "O'Neil",
        "!",
    ]
    assert [text[s:e] for s, e in offsets] == words
    assert split_words("a-b  c.", "whitespace")[0] == ["a-b", "c."]
    names = ["O", "B-COND", "I-COND", "B-DRUG", "I-DRUG", "B-PER", "I-PER"]
    tag_ids = [3, 0, 0, 1, 2, 0, 0, 5, 6, 6, 0]
    scores = [0.9, 1, 1, 0.8, 0.6, 1, 1, 0.5, 0.5, 0.8, 1]
    found = decode_entities(text, offsets, tag_ids, scores, names, "iob2")
    assert [(e["type"], e["text"], e["words"]) for e in found] == [
        ("DRUG", "Aspirin", [0, 1]),
        ("COND", "bad headache", [3, 5]),
        ("PER", "Dr. O'Neil", [7, 10]),
    ]
    for entity in found:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert found[1]["score"] == pytest.approx(0.7)
    assert found[2]["score"] == pytest.approx(0.6)


def test_word_predictions_read_the_first_subword():
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    ids, scores = word_predictions(probs, np.array([1, 2, -1]))
    assert ids.tolist() == [0, 1, 0] and scores.tolist() == [0.8, 0.7, 0.0]


def test_collator_pads_ids_with_pad_and_labels_with_minus_100():
    items = [
        (np.array([2, 5, 6, 3]), np.array([-100, 1, 0, -100])),
        (np.array([2, 7, 3]), np.array([-100, 2, -100])),
    ]
    batch = TagPadCollator(pad_token_id=0)(items)
    assert batch["input_ids"].tolist() == [[2, 5, 6, 3], [2, 7, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 1, 0, -100], [-100, 2, -100, -100]]
    assert batch["labels"].dtype == torch.long
