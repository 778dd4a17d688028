"""Reading tagged sentences: CoNLL columns, JSONL, a saved 🤗 dataset; one-line errors."""

from __future__ import annotations

import pytest

from helpers.tokens import tagged, write_conll, write_jsonl
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.token_classification.readers import read_sentences, resolve_format

SENTENCES = [
    tagged("Aspirin/B-DRUG helped my headache/B-COND ."),
    tagged("John/B-PER Smith/I-PER took ibuprofen/B-DRUG"),
]


def test_conll_reads_first_and_last_columns_and_skips_docstart(tmp_path):
    path = write_conll(tmp_path / "train.conll", SENTENCES, docstart=True, extra_columns=True)
    found, digest = read_sentences(str(path), "data.train_path")
    assert found.words == [
        ["Aspirin", "helped", "my", "headache", "."],
        ["John", "Smith", "took", "ibuprofen"],
    ]
    assert found.tags[1] == ["B-PER", "I-PER", "O", "B-DRUG"]
    assert found.numbers == [1, 2] and len(digest) == 64


def test_conll_columns_are_configurable(tmp_path):
    path = tmp_path / "cols.txt"
    path.write_text("B-X 1 Aspirin\nO 2 helped\n\nO 1 fine\n")
    found, _ = read_sentences(str(path), "data.train_path", token_column="2", tag_column=0)
    assert found.words == [["Aspirin", "helped"], ["fine"]]
    assert found.tags == [["B-X", "O"], ["O"]]
    with pytest.raises(SFTConfigError, match=r"data.token_column=word: a CoNLL column is a number"):
        read_sentences(str(path), "data.train_path", token_column="word")


def test_conll_line_with_too_few_columns_names_sentence_token_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Aspirin B-DRUG\nhelped O\n\nJohn B-PER\nSmith\n")
    with pytest.raises(SFTDataError) as err:
        read_sentences(str(path), "data.train_path")
    assert str(err.value).startswith(f"{path} sentence 2 token 2 (line 5): 1 column(s)")
    assert "\n" not in str(err.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(SFTDataError, match=r"data.test_path: file not found"):
        read_sentences(str(tmp_path / "nope.conll"), "data.test_path")
    (tmp_path / "empty.conll").write_text("-DOCSTART- O\n\n\n")
    with pytest.raises(SFTDataError, match=r"empty.conll: no sentences"):
        read_sentences(str(tmp_path / "empty.conll"), "data.train_path")


def test_jsonl_reads_tokens_and_tags(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", SENTENCES)
    found, _ = read_sentences(str(path), "data.train_path")
    assert found.words[0][0] == "Aspirin" and found.tags[1][:2] == ["B-PER", "I-PER"]


@pytest.mark.parametrize(
    "record,message",
    [
        ('{"tokens": ["a", "b"], "tags": ["O"]}', "sentence 2: 2 words but 1 tags"),
        ('{"tokens": ["a"], "tags": [3]}', "sentence 2 token 1: 'tags' holds 3, not a string"),
        ('{"tokens": [], "tags": []}', "sentence 2: no words"),
        ('{"tokens": "a b", "tags": ["O", "O"]}', "sentence 2: 'tokens' is str, not a list"),
        ('{"words": ["a"], "tags": ["O"]}', "sentence 2: the record has no 'tokens'"),
    ],
)
def test_jsonl_errors_name_the_sentence(tmp_path, record, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tokens": ["ok"], "tags": ["O"]}\n' + record + "\n")
    with pytest.raises(SFTDataError, match=message):
        read_sentences(str(path), "data.train_path")


def test_saved_dataset_maps_classlabel_ids_to_tag_names(tmp_path):
    import datasets

    names = ["O", "B-DRUG", "I-DRUG"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    train = datasets.Dataset.from_dict(
        {"tokens": [["take", "aspirin"], ["fine"]], "ner_tags": [[0, 1], [0]]}, features=features
    )
    dev = datasets.Dataset.from_dict({"tokens": [["no"]], "ner_tags": [[0]]}, features=features)
    datasets.DatasetDict({"train": train, "validation": dev}).save_to_disk(tmp_path / "ds")
    assert resolve_format(str(tmp_path / "ds"), "auto") == "hf_dataset"
    found, digest = read_sentences(str(tmp_path / "ds"), "data.train_path")
    assert found.tags == [["O", "B-DRUG"], ["O"]]  # ner_tags found as the ClassLabel column
    assert len(digest) == 64  # sha256 of the saved dataset's state files
    val, _ = read_sentences(
        str(tmp_path / "ds"), "data.train_path", names=("validation", "dev"), implicit=True
    )
    assert val.words == [["no"]]
    test, _ = read_sentences(
        str(tmp_path / "ds"), "data.train_path", names=("test",), implicit=True
    )
    assert test is None
    with pytest.raises(SFTDataError, match="has no column 'words'"):
        read_sentences(str(tmp_path / "ds"), "data.train_path", token_column="words")
