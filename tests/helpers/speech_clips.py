"""Synthetic "speech" for the speech-to-text tests: each letter is a tone of its own pitch,
a space is a short silence, so a tiny CTC model can learn to read clips in a few epochs; and
audio folders with metadata.csv (🤗 audiofolder's layout) of such clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

RATE = 16000
LETTER_SECONDS = 0.06
# The letters spoken, each at its own pitch (Hz).
PITCH = {c: 300.0 + 110.0 * i for i, c in enumerate("abcdefgho")}
WORDS = ("ab", "cab", "dog", "fed", "hog", "bad", "egg", "bee")


def speak(text: str, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """float32 samples of `text` at 16 kHz: a 60 ms tone per letter (with a short gap, so
    repeated letters stay apart), 60 ms of silence per space, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(LETTER_SECONDS * RATE)
    t = np.arange(n) / RATE
    parts = [np.zeros(n // 2, np.float32)]
    for char in text:
        if char == " ":
            parts.append(np.zeros(n, np.float32))
            continue
        pitch = PITCH.get(char.lower(), 200.0)  # any other character: one low tone
        tone = 0.5 * np.sin(2 * np.pi * pitch * t) * np.hanning(n)
        parts += [tone.astype(np.float32), np.zeros(n // 4, np.float32)]
    parts.append(np.zeros(n // 2, np.float32))
    clip = np.concatenate(parts)
    return (clip + noise * rng.standard_normal(len(clip))).astype(np.float32)


def sentences(count: int, seed: int = 0) -> list[str]:
    """`count` transcripts of 1-2 words of WORDS."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 3))) for _ in range(count)]


def write_folder(
    folder: Path, texts: list[str], seed: int = 0, column: str = "transcription"
) -> Path:
    """An audio folder: 000.wav, ... and metadata.csv (file_name, `column`)."""
    import soundfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", column])
        for i, text in enumerate(texts):
            name = f"{i:03d}.wav"
            soundfile.write(folder / name, speak(text, seed * 1000 + i), RATE, subtype="PCM_16")
            writer.writerow([name, text])
    return folder


def write_corpus(
    root: Path, n_train: int = 24, n_val: int = 6, n_test: int = 6, seed: int = 0
) -> Path:
    """A root with train/, validation/ and test/ audio folders of synthetic clips."""
    root = Path(root)
    for offset, (split, count) in enumerate(
        (("train", n_train), ("validation", n_val), ("test", n_test))
    ):
        write_folder(root / split, sentences(count, seed * 10 + offset), seed * 10 + offset)
    return root
