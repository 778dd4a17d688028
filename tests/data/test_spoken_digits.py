"""The spoken-digits corpus (sft.data.spoken_digits over sft.data.espeak): the audiofolder
layout, the same bytes for the same arguments, written once, test voices held out, clips that
sft's audio loader reads at 16 kHz, and one-line errors."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from sft.data import espeak
from sft.data.media import load_audio
from sft.data.spoken_digits import MANIFEST, SPLITS, WORDS, write_corpus
from sft.errors import SFTConfigError

# A handful of clips: 3 train voices, 2 held-out test voices.
SMALL = {"n_train": 6, "n_val": 3, "n_test": 4, "voices": 3, "test_voices": 2}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("spoken") / "corpus", **SMALL)


def rows(root: Path, split: str) -> list[dict]:
    with open(root / split / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_audiofolder_layout_and_columns(corpus):
    counts = {"train": 6, "validation": 3, "test": 4}
    for split in SPLITS:
        table = rows(corpus, split)
        assert len(table) == counts[split]
        assert list(table[0]) == ["file_name", "transcription", "speaker"]
        for row in table:
            assert (corpus / split / row["file_name"]).is_file()
            spoken = row["transcription"].split(" ")
            assert 2 <= len(spoken) <= 4 and set(spoken) <= set(WORDS)
            assert row["speaker"].startswith("en+")
    wavs = sorted(p.name for p in (corpus / "train").glob("*.wav"))
    assert wavs == [f"{i:05d}.wav" for i in range(6)]


def test_test_voices_are_held_out(corpus):
    voices = json.loads((corpus / MANIFEST).read_text())["voices"]
    assert len(voices["train"]) == 3 and len(voices["test"]) == 2
    train = {row["speaker"] for split in ("train", "validation") for row in rows(corpus, split)}
    test = {row["speaker"] for row in rows(corpus, "test")}
    assert train <= set(voices["train"]) and test == set(voices["test"])
    variant = lambda speaker: speaker.rsplit("-", 2)[0]  # noqa: E731
    assert not {variant(s) for s in train} & {variant(s) for s in test}


def test_clips_decode_at_16_khz_as_speech_with_a_little_noise(corpus):
    for row in rows(corpus, "test"):
        clip = load_audio(str(corpus / "test" / row["file_name"]), 16000)
        assert clip.dtype == np.float32 and clip.ndim == 1
        seconds = clip.size / 16000
        assert 0.5 < seconds < 6.0, seconds
        assert 0.25 < np.abs(clip).max() <= 1.0
        # The silence before the words holds the noise: quiet but not digital zero.
        assert 0 < np.abs(clip[:400]).max() < 0.1


def test_same_arguments_give_the_same_bytes_and_other_seeds_other_clips(corpus, tmp_path):
    again = write_corpus(tmp_path / "again", **SMALL)
    assert file_bytes(again) == file_bytes(corpus)
    other = write_corpus(tmp_path / "other", **{**SMALL, "seed": 1})
    assert rows(other, "train") != rows(corpus, "train")


def test_written_once_then_replaced_when_the_arguments_change(tmp_path):
    root = tmp_path / "corpus"
    write_corpus(root, **{**SMALL, "n_train": 2, "n_test": 1})
    stamp = (root / "train" / "00000.wav").stat().st_mtime_ns
    write_corpus(root, **{**SMALL, "n_train": 2, "n_test": 1})
    assert (root / "train" / "00000.wav").stat().st_mtime_ns == stamp
    write_corpus(root, **{**SMALL, "n_train": 3, "n_test": 1})
    assert len(rows(root, "train")) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_folder_of_other_files_is_not_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SFTConfigError, match="not a corpus of write_corpus"):
        write_corpus(tmp_path, **SMALL)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"n_train": -1}, "n_train"),
        ({"voices": 30, "test_voices": 30}, "voices \\+ test_voices"),
        ({"words": (3, 2)}, "words"),
        ({"sampling_rate": 4000}, "sampling_rate"),
    ],
)
def test_bad_arguments_are_named(tmp_path, change, key):
    with pytest.raises(SFTConfigError, match=key):
        write_corpus(tmp_path / "corpus", **{**SMALL, **change})


def test_a_missing_espeak_wheel_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(espeak, "_STATE", {})
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails as if not installed
    with pytest.raises(SFTConfigError, match="pip install espeakng-loader"):
        espeak.synthesize("one two")
    with pytest.raises(SFTConfigError, match="pip install espeakng-loader"):
        write_corpus(tmp_path / "corpus", **SMALL)


def test_synthesize_refuses_an_unknown_voice_and_a_rate_out_of_range():
    with pytest.raises(SFTConfigError, match="no voice 'xx'"):
        espeak.synthesize("one", voice="xx")
    with pytest.raises(SFTConfigError, match="rate 20"):
        espeak.synthesize("one", rate=20)
