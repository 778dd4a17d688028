"""Tagging schemes: detection, one-line errors for broken or unknown tags, spans by seqeval's
strict rules."""

from __future__ import annotations

import pytest

from sft.errors import SFTDataError
from sft.tasks.token_classification.tags import (
    check_tags,
    entity_types,
    scheme_name,
    spans,
    tag_order,
)


def test_scheme_auto_detects_bioes_from_e_or_s_tags():
    assert scheme_name("auto", ["O", "B-X", "I-X"]) == "iob2"
    assert scheme_name("auto", ["O", "S-X"]) == "bioes"
    assert scheme_name("BIO", []) == "iob2" and scheme_name("iobes", []) == "bioes"
    with pytest.raises(SFTDataError, match=r"data.scheme=bilou: unknown tagging scheme"):
        scheme_name("bilou", [])


def test_broken_iob2_sequence_names_file_sentence_and_token():
    words = ["John", "lives", "in", "New", "York"]
    with pytest.raises(SFTDataError) as err:
        check_tags(["B-PER", "O", "O", "I-LOC", "I-LOC"], words, "iob2", "train.conll sentence 7")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("train.conll sentence 7 token 4 ('New'): 'I-LOC' follows 'O'")
    assert "broken IOB2 sequence" in message


@pytest.mark.parametrize(
    "tags,bad_token,reason",
    [
        (["I-PER"], 1, "follows the sentence's start"),
        (["B-PER", "I-LOC"], 2, "follows 'B-PER'"),
        (["B-LOC", "I-LOC", "I-PER"], 3, "follows 'I-LOC'"),
    ],
)
def test_iob2_i_must_continue_the_same_type(tags, bad_token, reason):
    with pytest.raises(SFTDataError, match=f"token {bad_token} .*{reason}"):
        check_tags(tags, ["w"] * len(tags), "iob2", "f sentence 1")


@pytest.mark.parametrize(
    "tags,bad_token,reason",
    [
        (["B-X", "O"], 1, "'B-X' is followed by 'O'"),
        (["B-X"], 1, "followed by the sentence's end"),
        (["B-X", "I-X", "S-X"], 2, "'I-X' is followed by 'S-X'"),
        (["O", "E-X"], 2, "'E-X' follows 'O'"),
        (["S-X", "E-X"], 2, "'E-X' follows 'S-X'"),
        (["B-X", "E-Y"], 1, "'B-X' is followed by 'E-Y'"),
    ],
)
def test_bioes_rules(tags, bad_token, reason):
    with pytest.raises(SFTDataError, match=f"token {bad_token} .*{reason}"):
        check_tags(tags, ["w"] * len(tags), "bioes", "f sentence 1")


def test_well_formed_sequences_pass():
    check_tags(["B-X", "I-X", "O", "B-Y", "B-Y", "I-Y"], ["w"] * 6, "iob2", "f sentence 1")
    check_tags(
        ["S-X", "B-Y", "I-Y", "E-Y", "O", "S-X", "B-X", "E-X"], ["w"] * 8, "bioes", "f sentence 1"
    )


def test_tag_of_the_wrong_form_and_unknown_tag():
    with pytest.raises(
        SFTDataError,
        match=r"token 2 \('b'\): tag 'B_PER' is not of the IOB2 "
        r"form",
    ):
        check_tags(["O", "B_PER"], ["a", "b"], "iob2", "f sentence 1")
    with pytest.raises(SFTDataError, match="tag 'S-X' is not of the IOB2 form"):
        check_tags(["S-X"], ["a"], "iob2", "f sentence 1")
    with pytest.raises(
        SFTDataError,
        match=r"test.conll sentence 3 token 2 \('Paris'\): tag "
        r"'B-LOC' does not occur in the train split",
    ):
        check_tags(
            ["O", "B-LOC"],
            ["in", "Paris"],
            "iob2",
            "test.conll sentence 3",
            known=["O", "B-PER", "I-PER"],
        )


@pytest.mark.parametrize(
    "tags,scheme,expected",
    [
        (["B-A", "I-A", "O", "B-B"], "iob2", [("A", 0, 1), ("B", 3, 3)]),
        (["B-A", "B-A", "I-A"], "iob2", [("A", 0, 0), ("A", 1, 2)]),
        (["O", "I-A", "I-A", "B-B", "I-A"], "iob2", [("B", 3, 3)]),  # strict: a stray I starts none
        (["B-A", "I-B"], "iob2", [("A", 0, 0)]),
        (["S-A", "B-B", "I-B", "E-B", "O"], "bioes", [("A", 0, 0), ("B", 1, 3)]),
        (["B-A", "I-A", "O", "S-B"], "bioes", [("B", 3, 3)]),  # an unclosed B-I run is no entity
        (["B-A", "E-A", "E-A"], "bioes", [("A", 0, 1)]),
    ],
)
def test_spans_follow_strict_conll_rules(tags, scheme, expected):
    from seqeval.scheme import IOB2, IOBES, Tokens

    assert spans(tags, scheme) == expected
    reference = Tokens(tags, IOB2 if scheme == "iob2" else IOBES).entities
    assert [(e.tag, e.start, e.end - 1) for e in reference] == expected


def test_tag_order_puts_o_first_and_groups_a_type():
    assert tag_order(["I-PER", "B-LOC", "O", "B-PER", "I-LOC"]) == [
        "O",
        "B-LOC",
        "I-LOC",
        "B-PER",
        "I-PER",
    ]
    assert tag_order(["B-X"]) == ["O", "B-X"]
    assert entity_types(["O", "B-PER", "I-PER", "S-LOC"]) == ["LOC", "PER"]
