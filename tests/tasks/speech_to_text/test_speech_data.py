"""The transcripts data module: the layouts it reads, transcript normalization, max_seconds
(drop or cut, counted), the vocabulary built from the train split and saved as a CTC
tokenizer, characters outside it in the test split (one warning, [UNK])."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile

from helpers.speech_clips import RATE, speak, write_corpus, write_folder
from sft.tasks.speech_to_text import SPEECH_TO_TEXT_FAMILY
from sft.tasks.speech_to_text.data import TranscriptDataModule
from sft.tasks.speech_to_text.vocab import PAD, UNK, build_vocabulary, make_tokenizer


def loaded(train_path, **kwargs) -> TranscriptDataModule:
    datamodule = TranscriptDataModule("t", str(train_path), **kwargs)
    datamodule.load(SPEECH_TO_TEXT_FAMILY)
    return datamodule


def test_a_corpus_root_gives_its_three_splits_and_the_vocabulary(tmp_path):
    root = write_corpus(tmp_path / "corpus", 6, 2, 3)
    datamodule = loaded(root)
    assert {s: len(u) for s, u in datamodule.examples.items()} == {"train": 6, "val": 2, "test": 3}
    train = datamodule.examples["train"]
    letters = sorted({c for t in train.transcripts for c in t} - {" "})
    assert list(datamodule.vocab) == [PAD, UNK, "|", *letters]
    ids = datamodule.targets["train"][0]
    assert "".join(" " if i == 2 else letters[i - 3] for i in ids) == train.transcripts[0]
    assert datamodule.labels.task == "speech_to_text" and datamodule.labels.names == []
    words = datamodule.labels.kind.label_counts(train.transcripts)  # the data report's line
    assert sum(words.values()) == sum(len(t.split()) for t in train.transcripts)
    assert list(words.values()) == sorted(words.values(), reverse=True)


def test_transcripts_are_normalized_as_configured(tmp_path):
    write_folder(tmp_path / "clips", ["Ab, CAB!", "dog  hog?"])
    datamodule = loaded(tmp_path / "clips", val_fraction=0.0, drop_chars=",!?")
    assert datamodule.examples["train"].transcripts == ["ab cab", "dog hog"]
    kept = loaded(tmp_path / "clips", val_fraction=0.0, lowercase=False, drop_chars="")
    assert kept.examples["train"].transcripts == ["Ab, CAB!", "dog hog?"]


def test_a_table_of_paths_and_a_saved_dataset_are_read_too(tmp_path):
    folder = write_folder(tmp_path / "clips", ["ab", "cab dog", "fed"])
    (tmp_path / "table.csv").write_text(
        "path,text\nclips/000.wav,ab\nclips/001.wav,cab dog\nclips/002.wav,fed\n"
    )
    table = loaded(tmp_path / "table.csv", text_column="text", val_fraction=0.0)
    assert table.examples["train"].transcripts == ["ab", "cab dog", "fed"]
    assert table.examples["train"].texts[1] == str((folder / "001.wav").resolve())

    import datasets

    files = [str(folder / f"{i:03d}.wav") for i in range(3)]
    rows = {"audio": files, "sentence": ["ab", "cab", "fed"]}
    split = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(decode=False))
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "saved"))
    saved = loaded(
        tmp_path / "saved", text_column="sentence", val_fraction=0.0, media_dir=str(tmp_path / "m")
    )
    assert saved.examples["test"].transcripts == ["ab", "cab", "fed"]
    assert saved.examples["train"].places[2] == f"{tmp_path / 'saved'} (split 'train') row 3"


def test_long_clips_are_dropped_or_cut_and_counted(tmp_path, caplog):
    folder = write_folder(tmp_path / "clips", ["ab", "cab dog hog fed", "fed"])
    with caplog.at_level(logging.WARNING):
        dropped = loaded(folder, val_fraction=0.0, max_seconds=0.8)
    assert dropped.examples["train"].transcripts == ["ab", "fed"]
    assert "train split: 1 of 3 clips are longer than data.max_seconds=0.8: dropped" in caplog.text
    cut = loaded(folder, val_fraction=0.0, max_seconds=0.8, long_clips="cut")
    assert len(cut.examples["train"]) == 3 and cut.seconds["train"].max() == pytest.approx(0.8)


def test_test_characters_outside_the_vocabulary_are_unk_with_one_warning(tmp_path, caplog):
    root = write_corpus(tmp_path / "corpus", 6, 2, 0)
    write_folder(root / "test", ["ab", "zz ab", "cab"])
    soundfile.write(root / "test" / "002.wav", speak("cab"), RATE)
    from sft.data.media import load_processor
    from sft.model.backbone import resolve_model_path

    extractor = load_processor(str(resolve_model_path("pkg://sft/assets/parakeet_ctc")), "audio")
    with caplog.at_level(logging.WARNING):
        datamodule = loaded(root)
        # warned once the model is known to be a CTC one (an encoder-decoder has its own
        # tokenizer: no [UNK] then)
        datamodule.encode(extractor, 256, None)
    warnings = [r for r in caplog.records if "outside the training vocabulary" in r.message]
    assert len(warnings) == 1
    assert "2 characters" in warnings[0].message and "'z' x2" in warnings[0].message
    unk = datamodule.vocab[UNK]
    assert list(datamodule.targets["test"][1][:2]) == [unk, unk]


def test_the_tokenizer_saves_and_reloads_with_the_blank_as_pad(tmp_path):
    from transformers import AutoTokenizer

    vocab = build_vocabulary(["cab dog", "fed"])
    make_tokenizer(vocab).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer.pad_token_id == vocab[PAD] == 0 and len(tokenizer) == len(vocab)
    ids = tokenizer("cab dog").input_ids
    assert ids == [vocab[c] for c in "cab|dog"]
    assert tokenizer.decode([0, *ids[:2], ids[1], 0]) == "ca"  # CTC: repeats merged, blanks out
    assert np.all(np.asarray(ids) > 0)
