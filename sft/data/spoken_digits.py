"""Synthetic spoken digits: an offline speech corpus with transcripts and speakers, spoken by
espeak-ng (sft/data/espeak.py), the demo data of the speech_to_text and speaker_verification
families.

A clip says 2 to 4 digit words ("three seven two") in one voice: an English espeak-ng voice
variant at a rate and base pitch, named "en+<variant>-r<rate>-p<pitch>". Each clip gets a
little silence before and after, a random gain and white noise at a random signal-to-noise
ratio, then is resampled from espeak-ng's 22,050 Hz to `sampling_rate`.

Layout written by `write_corpus` (the 🤗 audiofolder convention):

    <root>/corpus.json                 the settings and the voices of each split
    <root>/<split>/metadata.csv        file_name (relative to the csv), transcription, speaker
    <root>/<split>/<index>.wav         mono 16-bit PCM WAV at `sampling_rate` Hz

Splits train, validation and test. Train and validation share `voices` voices; test is
spoken by `test_voices` others whose variants no train voice uses (held-out speakers).
Synthetic speech shows that a pipeline works; it does not show that a model transcribes people.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np

from sft.data.espeak import load_library, synthesize
from sft.data.media import to_mono_at
from sft.errors import SFTConfigError, SFTDataError

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# English variants that sound like a person speaking plainly: left out are the whispering,
# robotic, echoing and tone-filtered ones of espeak-ng-data/voices/!v.
VARIANTS = (
    *("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"),
    *("Andy", "Lee", "aunty", "belinda", "boris", "linda", "max", "grandpa", "grandma"),
    *("Alex", "Mike", "Gene", "Jacky", "Mario", "Michael", "rob", "robert", "zac"),
    *("klatt", "klatt3", "adam", "david", "edward", "gustave", "marcelo", "victor"),
)
RATES = (130, 210)  # words per minute, drawn per voice in steps of 10
PITCHES = (30, 70)  # espeak-ng base pitch, drawn per voice in steps of 5
SILENCE_S = (0.05, 0.3)  # silence before and after the words, seconds, drawn per clip
SNR_DB = (20.0, 40.0)  # white noise under the speech, drawn per clip
PEAK = (0.3, 0.9)  # the clip's peak amplitude after the gain, drawn per clip
SPLITS = ("train", "validation", "test")
FORMAT = 1  # bump when synthesis changes, so that corpora written the old way are rewritten
MANIFEST = "corpus.json"


def write_corpus(
    root: str | Path,
    n_train: int = 800,
    n_val: int = 100,
    n_test: int = 200,
    seed: int = 0,
    voices: int = 20,
    test_voices: int = 5,
    words: tuple[int, int] = (2, 4),
    sampling_rate: int = 16000,
) -> Path:
    """Write the corpus under `root` (layout: module docstring) and return `root`.

    `voices`: voices of train and validation; `test_voices`: held-out voices of test (their
    variants are not among the train voices'); `words`: (fewest, most) digit words a clip.
    Deterministic for the arguments; a corpus already written there with the same arguments
    is kept, one with other arguments is replaced. Written in a temporary folder and renamed
    into place, so an interrupted write never leaves a folder that looks done.
    Raises SFTConfigError for arguments that cannot work (named), for a `root` that holds
    files other than a corpus, and when espeak-ng cannot be loaded (install espeakng-loader).
    """
    settings = {
        "n_train": int(n_train),
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seed": int(seed),
        "voices": int(voices),
        "test_voices": int(test_voices),
        "words": [int(words[0]), int(words[1])],
        "sampling_rate": int(sampling_rate),
        "format": FORMAT,
    }
    _check(settings)
    root = Path(root).expanduser()
    manifest = root / MANIFEST
    if manifest.is_file():
        if json.loads(manifest.read_text()).get("settings") == settings:
            return root
    elif root.exists() and any(root.iterdir()):
        raise SFTConfigError(f"{root}: not empty and not a corpus of write_corpus; choose a root")
    cast = choose_voices(settings["seed"], settings["voices"], settings["test_voices"])
    root.parent.mkdir(parents=True, exist_ok=True)
    temporary = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _speak_in_fresh_process(temporary, settings, cast)
        summary = {"settings": settings, "voices": cast}
        (temporary / MANIFEST).write_text(json.dumps(summary, indent=1) + "\n")
        _replace(temporary, root)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return root


def choose_voices(seed: int, voices: int, test_voices: int) -> dict[str, list[str]]:
    """{"train": [...], "test": [...]}: voice names "en+<variant>-r<rate>-p<pitch>", drawn
    for `seed`; the two lists use disjoint variants (so disjoint speakers)."""
    rng = np.random.default_rng([seed, 99])
    order = rng.permutation(len(VARIANTS))[: voices + test_voices]
    names = []
    for k in order:
        rate = int(rng.integers(RATES[0] // 10, RATES[1] // 10 + 1)) * 10
        pitch = int(rng.integers(PITCHES[0] // 5, PITCHES[1] // 5 + 1)) * 5
        names.append(f"en+{VARIANTS[k]}-r{rate}-p{pitch}")
    return {"train": names[:voices], "test": names[voices:]}


def speak(words: str, speaker: str, rng: np.random.Generator, sampling_rate: int) -> np.ndarray:
    """`words` spoken by `speaker` (a name of `choose_voices`) with the clip's silence, gain
    and noise drawn from `rng`: float32 mono samples at `sampling_rate` Hz, in [-1, 1]."""
    voice, rate, pitch = speaker.rsplit("-", 2)
    noise_seed = int(rng.integers(2**31))
    samples, rate_hz = synthesize(words, voice, int(rate[1:]), int(pitch[1:]), noise_seed)
    speech = samples.astype(np.float32) / 32768.0
    speech *= rng.uniform(*PEAK) / max(float(np.abs(speech).max()), 1e-6)
    pad = [np.zeros(int(rng.uniform(*SILENCE_S) * rate_hz), np.float32) for _ in range(2)]
    clip = np.concatenate([pad[0], speech, pad[1]])
    noise_std = np.sqrt(max(float(np.mean(speech**2)), 1e-12) / 10 ** (rng.uniform(*SNR_DB) / 10))
    clip += rng.normal(0.0, noise_std, clip.shape).astype(np.float32)
    return np.clip(to_mono_at(clip, rate_hz, sampling_rate), -1.0, 1.0)


def _count_key(split: str) -> str:
    return {"train": "n_train", "validation": "n_val", "test": "n_test"}[split]


def _check(settings: dict) -> None:
    """SFTConfigError naming the first argument that cannot work."""
    for key in ("n_train", "n_val", "n_test"):
        if settings[key] < 0:
            raise SFTConfigError(f"{key} must be 0 or more, got {settings[key]}")
    if settings["voices"] < 1 or settings["test_voices"] < 1:
        raise SFTConfigError("voices and test_voices must be 1 or more")
    if settings["voices"] + settings["test_voices"] > len(VARIANTS):
        raise SFTConfigError(
            f"voices + test_voices must be at most {len(VARIANTS)} (the voice variants), got "
            f"{settings['voices']} + {settings['test_voices']}"
        )
    low, high = settings["words"]
    if not 1 <= low <= high:
        raise SFTConfigError(
            f"words must be (fewest, most) with 1 <= fewest <= most, got {low, high}"
        )
    if settings["sampling_rate"] < 8000:
        raise SFTConfigError(
            f"sampling_rate must be 8000 Hz or more, got {settings['sampling_rate']}"
        )


def _speak_in_fresh_process(folder: Path, settings: dict, cast: dict[str, list[str]]) -> None:
    """Run `_write_splits` in a new interpreter. espeak-ng keeps state from one utterance to
    the next (measured: the same words in the same voice come out a few samples longer after
    other utterances, also after espeak_Terminate and a new espeak_Initialize), so only a
    process that spoke nothing before writes the same samples every time. A subprocess, not
    multiprocessing's spawn, which re-runs the caller's script when it lacks a __main__ guard.
    """
    load_library()  # here, so that a missing wheel fails with its one line, not the child's
    job = json.dumps({"folder": str(folder), "settings": settings, "cast": cast})
    code = "import sys, sft.data.spoken_digits as m; m._write_job(sys.argv[1])"
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # this sft, even when not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code, job], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no message"]
        raise SFTDataError(f"{folder}: writing the spoken-digits corpus failed: {lines[-1]}")


def _write_job(job: str) -> None:
    """The subprocess's side of `_speak_in_fresh_process`."""
    job = json.loads(job)
    _write_splits(Path(job["folder"]), job["settings"], job["cast"])


def _write_splits(folder: Path, settings: dict, cast: dict[str, list[str]]) -> None:
    """Every split under `folder`, each clip's draws from the split's own generator."""
    for index, split in enumerate(SPLITS):
        group = cast["test" if split == "test" else "train"]
        rng = np.random.default_rng([settings["seed"], index])
        _write_split(folder / split, settings[_count_key(split)], group, rng, settings)


def _write_split(folder: Path, n: int, speakers: list[str], rng, settings: dict) -> None:
    """`n` clips, speakers taking turns (each clip a speaker in order, so every voice gets a
    share), written as WAV files with their metadata.csv."""
    import soundfile  # lazy, as in sft/data/media.py: only audio needs libsndfile

    folder.mkdir(parents=True)
    low, high = settings["words"]
    rows = []
    for i in range(n):
        speaker = speakers[i % len(speakers)]
        text = " ".join(WORDS[d] for d in rng.integers(0, 10, int(rng.integers(low, high + 1))))
        clip = speak(text, speaker, rng, settings["sampling_rate"])
        name = f"{i:05d}.wav"
        soundfile.write(folder / name, clip, settings["sampling_rate"], subtype="PCM_16")
        rows.append({"file_name": name, "transcription": text, "speaker": speaker})
    with open(folder / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file_name", "transcription", "speaker"])
        writer.writeheader()
        writer.writerows(rows)


def _replace(temporary: Path, root: Path) -> None:
    """Put the written folder at `root`, moving an older corpus there aside first."""
    old = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if root.exists():
        os.rename(root, old)
    try:
        os.rename(temporary, root)
    except OSError:
        if not (root / MANIFEST).is_file():  # not another writer's finished copy
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m sft.data.spoken_digits ROOT [--n-train N ...]`: write a corpus."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    for key, default in (("n-train", 800), ("n-val", 100), ("n-test", 200), ("seed", 0)):
        parser.add_argument(f"--{key}", type=int, default=default)
    parser.add_argument("--voices", type=int, default=20)
    parser.add_argument("--test-voices", type=int, default=5)
    args = parser.parse_args(argv)
    root = write_corpus(
        args.root, args.n_train, args.n_val, args.n_test, args.seed, args.voices, args.test_voices
    )
    print(root)


if __name__ == "__main__":
    main()
