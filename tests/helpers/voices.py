"""Synthetic "voices" for speaker-verification tests: a speaker is a pitch and a timbre (the
loudness of its first harmonics); each clip of it varies pitch, phase, loudness and length a
little, with noise. Written as 16 kHz 16-bit PCM WAV in the audiofolder layout
(<split>/metadata.csv: file_name, speaker), as the speech corpus is."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 16000


def voice(index: int) -> tuple[float, np.ndarray]:
    """Speaker `index`'s pitch in Hz and the amplitudes of its first four harmonics."""
    rng = np.random.default_rng(1000 + index)
    return 140.0 * 1.18**index, rng.uniform(0.2, 1.0, 4)


def write_clip(path: Path, index: int, rng, seconds: float = 0.6) -> Path:
    """One clip of speaker `index` (pitch within 2%, random phases, loudness and length)."""
    pitch, harmonics = voice(index)
    pitch *= rng.uniform(0.98, 1.02)
    t = np.arange(int(RATE * seconds * rng.uniform(0.8, 1.0))) / RATE
    signal = sum(
        a * np.sin(2 * np.pi * pitch * (h + 1) * t + rng.uniform(0, 6.28))
        for h, a in enumerate(harmonics)
    )
    signal = rng.uniform(0.2, 0.5) * signal / np.abs(signal).max() + rng.normal(0, 0.01, t.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_voices(root: Path, speakers: list[int], clips: int, seed: int) -> Path:
    """`root/metadata.csv` (file_name, speaker) and `clips` WAV files per speaker index, the
    speaker named `voice<index>`."""
    rng = np.random.default_rng(seed)
    lines = ["file_name,speaker"]
    for index in speakers:
        for i in range(clips):
            name = f"voice{index}_{i}.wav"
            write_clip(Path(root) / name, index, rng)
            lines.append(f"{name},voice{index}")
    (Path(root) / "metadata.csv").write_text("\n".join(lines) + "\n")
    return Path(root)
