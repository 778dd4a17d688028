"""Tokenization at scale: in several processes (`data.num_proc`) with the same ids and one
cache entry, and a CV run's folds as rows of one tokenization of the train pool."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import toy_frame
from sft import cache
from sft.data import tokenize as tok_cache
from sft.data.folds import apply_fold
from sft.data.module import TextDataModule
from sft.errors import SFTConfigError
from sft.tasks.sequence import SEQUENCE


def test_two_processes_give_the_same_ids_and_one_entry_any_later_run_reads(
    tiny_model_dir, tmp_path
):
    from transformers import AutoTokenizer

    cache.clear()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [" ".join(["good day"] * (i % 7 + 1)) + f" {i}" for i in range(300)]
    alone = tok_cache.tokenize(texts, tokenizer, 16, None, num_proc=1)  # in memory
    cache.clear()
    two = tok_cache.tokenize(texts, tokenizer, 16, tmp_path, num_proc=2)
    assert cache.STATS["tokens.tokenized"] == 1
    assert [t.tolist() for t in two] == [t.tolist() for t in alone]
    # one file under the key (the shards are gone), read back by a one-process run
    assert [p.suffix for p in (tmp_path / "tokens").iterdir()] == [".arrow"]
    cache.clear()
    again = tok_cache.tokenize(texts, tokenizer, 16, tmp_path, num_proc=1)
    assert cache.STATS["tokens.disk_hit"] == 1 and cache.STATS["tokens.tokenized"] == 0
    assert [t.tolist() for t in again] == [t.tolist() for t in alone]


def test_num_proc_auto_uses_two_processes_from_auto_rows_only():
    assert tok_cache.processes("auto", tok_cache.AUTO_ROWS - 1) == 1
    assert tok_cache.processes("auto", tok_cache.AUTO_ROWS) in (1, 2)  # 1 on a one-core machine
    assert tok_cache.processes("3", 10) == 3 and tok_cache.processes(1, 10**6) == 1
    for bad in ("0", "two", -1, True):
        with pytest.raises(SFTConfigError, match=r"^data.num_proc="):
            tok_cache.processes(bad, 10)


def test_the_folds_of_a_cv_run_are_rows_of_one_tokenization(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    path = tmp_path / "train.csv"
    toy_frame(90, seed=0).to_csv(path, index=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    cache.clear()
    folds = []
    for fold in range(3):
        data = TextDataModule(name="toy", train_path=str(path), val_fraction=0.0)
        data.load(SEQUENCE)
        apply_fold(data, 3, fold, seed=0)
        data.tokenize(tokenizer, 32, tmp_path / "cache")
        folds.append(data)
    # the pool once (then hits), never a fold's train or val texts on their own
    assert cache.STATS["tokens.miss"] == 1 and cache.STATS["tokens.hit"] == 5
    for data in folds:
        for split in ("train", "val"):
            texts = data.examples[split].texts
            own = [tokenizer(t, truncation=True, max_length=32)["input_ids"] for t in texts]
            assert [ids.tolist() for ids in data.datasets[split].input_ids] == own
            assert data.untruncated_lengths()[split].tolist() == [len(i) for i in own]
    assert cache.STATS["untruncated.miss"] == 1
    rows = np.concatenate([d.examples["val"].rows for d in folds])
    assert sorted(rows.tolist()) == sorted(folds[0].fold_pool.examples.rows.tolist())


def test_the_token_cache_keeps_the_recently_used_entries_under_its_bound(tiny_model_dir, tmp_path):
    import os

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    cache.clear()
    tok_cache.USED.clear()
    batches = {n: [f"good day {n} {i}" for i in range(200)] for n in "abcd"}
    fingerprint = tok_cache.tokenizer_fingerprint(tokenizer)
    entries = []
    for age, texts in enumerate(batches.values()):  # a, b, c, d: used 40, 30, 20, 10 min ago
        tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
        key = tok_cache.cache_key(texts, fingerprint, 16)
        entries.append(tmp_path / "tokens" / f"{key}.arrow")
        os.utime(entries[-1], (0, entries[-1].stat().st_mtime - 600 * (4 - age)))
    size = entries[0].stat().st_size
    tok_cache.USED.clear()  # a new process ...
    cache.clear()
    tok_cache.tokenize(batches["a"], tokenizer, 16, tmp_path)  # ... that reads a again
    assert tok_cache.evict(tmp_path, None) == []  # no bound
    # room for two entries: the least recently used (b, then c) go; a (this run's) stays
    assert tok_cache.evict(tmp_path, 2.5 * size / 1e9) == entries[1:3]
    assert sorted((tmp_path / "tokens").glob("*.arrow")) == sorted([entries[0], entries[3]])
    assert tok_cache.evict(tmp_path, 0) == [entries[3]]  # never the entry in use
    with pytest.raises(SFTConfigError, match=r"^paths.cache_max_gb=-1"):
        tok_cache.evict(tmp_path, -1)
