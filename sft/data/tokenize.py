"""Tokenize once: cached in memory for the process (sft.cache) and on disk under `outputs/cache/`,
keyed by a hash of the texts, the tokenizer and `max_length`.

The on-disk cache is 🤗 datasets' own: `Dataset.map` with that key as its fingerprint writes
`tokens/<key>.arrow` (to a temporary file, moved into place when complete, so a crashed writer
leaves no entry under the key) and loads it instead of tokenizing when it exists. An entry
that fails to load, holds another row count, or records another fingerprint than its name
(a damaged, truncated or misplaced file) is rebuilt, never used. Unlike the hand-written
cache this replaced, there is no checksum of the ids: a file whose bytes rot but still parse
would be used (Arrow IPC has no checksum of its own).

Measured against that hand-written cache (save_to_disk + sha256 sidecar, commit d117f2d) with
benchmarks/tokenize_cache.py on the drug-review splits (510 + 90 + 379 texts, MiniLM, 256
tokens), medians of 7 and 9 alternating runs on 2 shared cores: first tokenization 307 vs
320 ms and 344 vs 397 ms (ratio 0.96, 0.87), a run that reads the disk cache 15.7 vs 20.6 ms
and 21.0 vs 24.2 ms (0.76, 0.87); the same token ids. So datasets' cache is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from sft.cache import STATS, cached
from sft.data.arrow_cache import map_cached
from sft.errors import SFTConfigError

# Rows from which `data.num_proc: auto` tokenizes in 2 processes: benchmarks/tokenize_procs.py
# on 2 shared, loaded cores, seconds 1 process / 2 processes (MiniLM's tokenizer; the tiny
# word-level one): 200k short texts 93.7 / 53.2 (1.76x; 76.6 / 58.9, 1.30x), 10k texts
# 0.90x (1.79x), 2k texts 0.61x (0.55x): below ~20k, starting the processes costs about what
# they save. docs/scale.md has the commands.
AUTO_ROWS = 20_000
USED: set[Path] = set()  # the cache entries this process read or wrote (`evict` keeps them)


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash that changes whenever the tokenizer would split text differently."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        # Calling the tokenizer records its last truncation/padding here: not part of identity.
        state.pop("truncation", None)
        state.pop("padding", None)
        spec = json.dumps(state, sort_keys=True)
    else:
        spec = repr(sorted(tokenizer.get_vocab().items()))
    extra = f"{type(tokenizer).__name__}|{tokenizer.padding_side}|{tokenizer.truncation_side}"
    return hashlib.sha256((spec + extra).encode()).hexdigest()


def ensure_pad_token(tokenizer):
    """Give a tokenizer without a pad token (GPT-2 and most decoders) its end-of-text token as
    the pad token; returns the tokenizer.

    Batches are right-padded and every pooling reads the attention mask (`last_token` picks
    the last real token), so what the pad id is never reaches the head; it only has to be a
    valid id. The saved model folder keeps the setting, so prediction pads the same way.
    """
    if tokenizer.pad_token_id is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is not None:
            tokenizer.pad_token = fallback
    return tokenizer


def cache_key(texts: list[str], tokenizer_id: str, max_length: int) -> str:
    digest = hashlib.sha256(f"{tokenizer_id}|{max_length}|{len(texts)}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def processes(num_proc: int | str, rows: int) -> int:
    """Tokenizer processes for `rows` texts under `data.num_proc`: an int >= 1 as given;
    `auto`: 2 (1 on a one-core machine) from AUTO_ROWS rows, 1 below, where starting a
    process costs more than it saves. SFTConfigError for anything else."""
    if str(num_proc) == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return min(2, cores or 1) if rows >= AUTO_ROWS else 1
    if isinstance(num_proc, bool) or not str(num_proc).isdigit() or int(num_proc) < 1:
        raise SFTConfigError(f"data.num_proc={num_proc}: give auto or a whole number >= 1")
    return int(num_proc)


def tokenize(
    texts: list[str],
    tokenizer,
    max_length: int,
    cache_dir: str | os.PathLike | None,
    tokenizer_id: str | None = None,
    num_proc: int | str = 1,
) -> list[np.ndarray]:
    """Token ids (int64 arrays, special tokens added, truncated to `max_length`) per text.

    Cached in this process (sft.cache) and, unless `cache_dir` is None, in
    `cache_dir/tokens/<key>.arrow` (datasets' map cache); see the module docstring.
    `num_proc`: tokenizer processes (`processes`; the same ids either way).
    """
    key = cache_key(texts, tokenizer_id or tokenizer_fingerprint(tokenizer), max_length)
    procs = processes(num_proc, len(texts))
    return cached(
        "tokens",
        key,
        lambda: _from_disk_or_tokenize(key, texts, tokenizer, max_length, cache_dir, procs),
    )


def untruncated_lengths(texts: list[str], tokenizer, tokenizer_id: str | None = None) -> np.ndarray:
    """Token counts (int64 [n], special tokens included) of `texts` before any truncation,
    for the data report; counted once per texts and tokenizer in this process (sft.cache): a
    sweep's jobs and a CV run's folds (rows of one pool) share them."""
    key = cache_key(texts, tokenizer_id or tokenizer_fingerprint(tokenizer), 0)

    def count() -> np.ndarray:
        ids = tokenizer(  # verbose=False: no "longer than the maximum" warning
            list(texts),
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))

    return cached("untruncated", key, count)


def _from_disk_or_tokenize(
    key, texts, tokenizer, max_length, cache_dir, procs: int = 1
) -> list[np.ndarray]:
    import datasets  # lazy: datasets and pyarrow (~1 s) only when a tokenization runs

    datasets.disable_progress_bars()

    def encode(batch):
        return tokenizer(
            batch["text"],
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )

    source = datasets.Dataset.from_dict({"text": list(texts)})
    entry = None if cache_dir is None else Path(cache_dir) / "tokens" / f"{key}.arrow"
    mapped, computed = map_cached(
        source, encode, key, entry, "tokenization", remove_columns=["text"], num_proc=procs
    )
    STATS["tokens.tokenized" if computed else "tokens.disk_hit"] += 1
    if entry is not None and entry.is_file():
        os.utime(entry)  # used now: the last entry `evict` deletes
        USED.add(entry.resolve())
    return _rows(mapped)


def evict(cache_dir: str | os.PathLike | None, max_gb: float | None) -> list[Path]:
    """Bound the token cache: delete the least recently used entries of `cache_dir/tokens`
    (the oldest modification time: a run touches every entry it reads or writes) until the
    entries hold at most `max_gb` GB (10^9 bytes), never one this process used; return the
    deleted paths. `max_gb` None: no bound (`paths.cache_max_gb`). SFTConfigError for a
    bound below 0."""
    if max_gb is None or cache_dir is None:
        return []
    if isinstance(max_gb, bool) or not isinstance(max_gb, int | float) or max_gb < 0:
        raise SFTConfigError(f"paths.cache_max_gb={max_gb}: give a size in GB >= 0, or null")
    folder = Path(cache_dir) / "tokens"
    entries = sorted(folder.glob("*.arrow"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in entries)
    deleted = []
    for path in entries:
        if total <= max_gb * 1e9:
            break
        if path.resolve() in USED:
            continue
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        deleted.append(path)
    return deleted


def _rows(mapped) -> list[np.ndarray]:
    """The `input_ids` column as one int64 array per row (views into one private copy)."""
    if mapped.num_rows == 0:
        return []
    column = mapped.data.column("input_ids").combine_chunks()
    offsets = column.offsets.to_numpy()
    values = np.array(column.values.to_numpy(), dtype=np.int64)  # a copy: not the mmap'd file
    values = values[offsets[0] :]
    return np.split(values, offsets[1:-1] - offsets[0])
