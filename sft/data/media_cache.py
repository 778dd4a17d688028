"""Decode images and audio once: the featurizer's `base` of every file (images: decoded and
resized to the model's size, uint8; audio: decoded, mono, resampled and cut, float32) is
cached in this process (sft.cache) and on disk under `<cache_dir>/media/<key>.arrow`, keyed by
a hash of the files (path, size, mtime) and of what shapes the base (the image processor's
settings; the sampling rate and `max_seconds`). Epochs two and later, and later runs, read
the base from the memory-mapped Arrow file; augmentation and the processor's rescale and
normalize run after it, so train-only augmentations still differ per epoch.

The disk cache is 🤗 datasets' own `Dataset.map` cache, as for token ids (sft.data.tokenize:
written to a temporary file and moved into place; an entry that fails to load, holds another
row count or records another fingerprint is rebuilt, never used).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from sft.cache import STATS, cached
from sft.data.arrow_cache import map_cached


class DecodedBases:
    """The cached bases of one split: `bases[i]` -> the base array of file i."""

    def __init__(self, table):
        self.table = table  # a datasets.Dataset with columns data (bytes), shape, dtype

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index: int) -> np.ndarray:
        row = self.table[int(index)]
        return np.frombuffer(row["data"], dtype=row["dtype"]).reshape(row["shape"])


class LazyBases:
    """No cache (cache_dir None): each base decoded when it is asked for."""

    def __init__(self, paths: list[str], featurizer):
        self.paths = paths
        self.featurizer = featurizer

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.featurizer.base([self.paths[index]])[0]


def base_key(paths: list[str], featurizer) -> str:
    """A hash of the files (path, size, mtime: contents are not read) and of the settings
    that shape their base (the featurizer's `cache_spec()` when it has one: the speech
    family caches log-mel features, not waveforms)."""
    if hasattr(featurizer, "cache_spec"):  # a featurizer that says what shapes its base
        spec = featurizer.cache_spec()
    elif featurizer.modality == "image":
        spec = f"{type(featurizer.processor).__name__}|{featurizer.processor.to_json_string()}"
    else:
        spec = f"audio|{featurizer.sampling_rate}|{featurizer.samples}"
    digest = hashlib.sha256(f"{spec}|{len(paths)}".encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def media_bases(paths: list[str], featurizer, cache_dir: str | os.PathLike | None):
    """The bases of `paths` (DecodedBases), decoded once and cached; LazyBases when
    `cache_dir` is None. Raises SFTDataError naming a file that cannot be decoded."""
    if cache_dir is None:
        return LazyBases(paths, featurizer)
    key = base_key(paths, featurizer)
    return cached(
        "media", key, lambda: DecodedBases(_from_disk_or_decode(key, paths, featurizer, cache_dir))
    )


def _from_disk_or_decode(key: str, paths: list[str], featurizer, cache_dir):
    import datasets  # lazy: datasets and pyarrow (~1 s) only when media is decoded

    datasets.disable_progress_bars()

    def decode(batch):
        bases = featurizer.base(batch["path"])
        return {
            "data": [b.tobytes() for b in bases],
            "shape": [list(b.shape) for b in bases],
            "dtype": [str(b.dtype) for b in bases],
        }

    source = datasets.Dataset.from_dict({"path": list(paths)})
    entry = Path(cache_dir) / "media" / f"{key}.arrow"
    mapped, computed = map_cached(
        source, decode, key, entry, "media", batch_size=64, remove_columns=["path"]
    )
    STATS["media.decoded" if computed else "media.disk_hit"] += 1
    return mapped
