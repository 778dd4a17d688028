"""data=hf_dataset on a local folder trains on what the files hold now: 🤗 datasets keys its
cache by path, size and modification time, so an edit that keeps them (`cp -p`, `rsync -t`,
`tar`) was served stale, and the logged fingerprint (the cache's) did not change."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import pandas as pd
import pytest

from conftest import toy_frame
from sft.data.hf_module import HFDatasetDataModule
from sft.tasks.sequence import SEQUENCE


def load(folder: Path) -> HFDatasetDataModule:
    module = HFDatasetDataModule(str(folder), val_fraction=0.2)
    module.load(SEQUENCE)
    return module


def swap_labels_keeping_size_and_mtime(path: Path) -> None:
    """negative <-> positive (both 8 characters): same size; the old access and modification
    times put back, as `cp -p` or `rsync -t` leave them."""
    before = path.stat()
    text = path.read_text()
    swapped = text.replace("negative", "@").replace("positive", "negative").replace("@", "positive")
    path.write_text(swapped)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_an_edit_keeping_size_and_mtime_is_read_and_changes_the_content_hash(
    tmp_path, monkeypatch, form
):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    folder = tmp_path / "reviews"
    (folder / "data").mkdir(parents=True)
    train = folder / "data" / "train.csv"
    toy_frame(60, seed=1).to_csv(train, index=False)
    toy_frame(30, seed=2).to_csv(folder / "data" / "test.csv", index=False)
    if form == "parquet":  # the same edit, made in the CSV, written as Parquet like-for-like
        for split in ("train", "test"):
            pd.read_csv(folder / "data" / f"{split}.csv").to_parquet(
                folder / "data" / f"{split}.parquet"
            )
            (folder / "data" / f"{split}.csv").unlink()
    first = load(folder)
    before = first.data_fingerprint()
    if form == "csv":
        swap_labels_keeping_size_and_mtime(train)
    else:
        parquet = folder / "data" / "train.parquet"
        stat = parquet.stat()
        frame = pd.read_parquet(parquet)
        frame["label"] = frame["label"].map(
            {"negative": "positive", "positive": "negative", "neutral": "neutral"}
        )
        frame.to_parquet(parquet)
        os.utime(parquet, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load(folder)
    now = (
        pd.read_csv(train) if form == "csv" else pd.read_parquet(folder / "data" / "train.parquet")
    )
    seen = dict(zip(second.examples["train"].texts, second.examples["train"].labels))
    assert all(seen[t] == label for t, label in zip(now["text"], now["label"]) if t in seen)
    assert seen != dict(zip(first.examples["train"].texts, first.examples["train"].labels))
    after = second.data_fingerprint()
    assert after["train"] != before["train"]  # resume and sft-reproduce see the change
    assert after["test"] == before["test"]  # the test split's file did not change
    # a content hash: the sha256 of the bytes of the split's files
    name = "train.csv" if form == "csv" else "train.parquet"
    digest = hashlib.sha256()
    digest.update((folder / "data" / name).read_bytes())
    assert after["train"] == digest.hexdigest()
