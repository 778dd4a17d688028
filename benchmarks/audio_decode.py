"""Audio decoding speed, side by side: soundfile (what `sft.data.media.load_audio` uses) vs
the standard-library `wave` reader it replaced, on the same generated 16-bit PCM WAV clips:
decoding alone, and decoding plus what load_audio does next (mono mix, scipy resampling).

Both ways turn a file into float32 samples in [-1, 1); the stdlib way is the old
`_read_wav` copied here verbatim (its PCM branch). Ways alternate within each repetition so
that both see the same page cache and CPU load; every figure is the median over repetitions.
Not run by CI:

  python benchmarks/audio_decode.py                       # 300 clips of 1 s, 16 kHz, 5 reps
  python benchmarks/audio_decode.py --clips 500 --seconds 4 --channels 2

Prints a table and the ratio stdlib_s / soundfile_s (> 1: soundfile is faster), and writes it
to outputs/bench/audio_decode-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed


def write_clips(folder: Path, clips: int, seconds: float, rate: int, channels: int) -> list[str]:
    """`clips` 16-bit PCM WAV files of noisy sines, written with the stdlib (no soundfile)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    paths = []
    for i in range(clips):
        signal = np.stack(
            [
                0.5 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + rng.normal(0, 0.02, t.shape)
                for _ in range(channels)
            ],
            axis=1,
        )
        path = folder / f"{i:04d}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
        paths.append(str(path))
    return paths


def read_stdlib(path: str) -> tuple[np.ndarray, int]:
    """The reader sft used before soundfile (sft/data/media.py `_read_wav`, PCM branch)."""
    with wave.open(path, "rb") as reader:
        rate, width, channels = (
            reader.getframerate(),
            reader.getsampwidth(),
            reader.getnchannels(),
        )
        raw = reader.readframes(reader.getnframes())
    if width == 3:
        bytes_ = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        raw = np.concatenate([np.zeros((len(bytes_), 1), np.uint8), bytes_], axis=1).tobytes()
        width = 4
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    data = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    data = (data - 128.0) / 128.0 if width == 1 else data / float(np.iinfo(dtype).max)
    return data.reshape(-1, channels) if channels > 1 else data, rate


def read_soundfile(path: str) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(path, dtype="float32")
    return data, int(rate)


def resampled(read, rate: int):
    """`read`, then what load_audio does next, with sft's own code (`to_mono_at`): mix to
    mono, resample to `rate` (scipy)."""
    from sft.data.media import to_mono_at

    def load(path: str) -> np.ndarray:
        samples, source = read(path)
        return to_mono_at(samples, source, rate)

    return load


WAYS = {"stdlib": read_stdlib, "soundfile": read_soundfile}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--model-rate",
        type=int,
        default=8000,
        help="the +resample ways resample to this rate (the tests' models: 8 kHz)",
    )
    args = parser.parse_args()
    ways = dict(WAYS)
    ways.update({f"{n}+resample": resampled(w, args.model_rate) for n, w in WAYS.items()})

    times: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp), args.clips, args.seconds, args.rate, args.channels)
        # Same samples both ways (to float32 rounding: int16 / 32767 vs / 32768).
        a, b = read_stdlib(paths[0])[0], read_soundfile(paths[0])[0]
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-3, "the ways disagree"
        for way in ways.values():  # warm-up: imports, page cache
            for path in paths[:20]:
                way(path)
        for _ in range(args.reps):
            for name, way in ways.items():
                start = time.perf_counter()
                for path in paths:
                    way(path)
                times[name].append(time.perf_counter() - start)

    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "settings": vars(args),
        "seconds_per_pass": times,
        "median_s": median,
        "clips_per_s": {n: args.clips / s for n, s in median.items()},
        "stdlib_over_soundfile": median["stdlib"] / median["soundfile"],
        "with_resample_stdlib_over_soundfile": median["stdlib+resample"]
        / median["soundfile+resample"],
    }
    print(
        f"{args.clips} clips x {args.seconds:g} s, {args.rate} Hz, {args.channels} ch, "
        f"median of {args.reps}"
    )
    for name in ways:
        print(
            f"  {name:18s} {median[name] * 1e3:8.1f} ms/pass  "
            f"{result['clips_per_s'][name]:9.0f} clips/s"
        )
    print(
        f"  stdlib / soundfile time: {result['stdlib_over_soundfile']:.2f}x decoding, "
        f"{result['with_resample_stdlib_over_soundfile']:.2f}x with mono mixing and "
        f"resampling to {args.model_rate} Hz (load_audio)"
    )
    out = ROOT / "outputs" / "bench" / f"audio_decode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"  written: {out}")


if __name__ == "__main__":
    main()
