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


def tokenize(
    texts: list[str],
    tokenizer,
    max_length: int,
    cache_dir: str | os.PathLike | None,
    tokenizer_id: str | None = None,
) -> list[np.ndarray]:
    """Token ids (int64 arrays, special tokens added, truncated to `max_length`) per text.

    Cached in this process (sft.cache) and, unless `cache_dir` is None, in
    `cache_dir/tokens/<key>.arrow` (datasets' map cache); see the module docstring.
    """
    key = cache_key(texts, tokenizer_id or tokenizer_fingerprint(tokenizer), max_length)
    return cached(
        "tokens", key, lambda: _from_disk_or_tokenize(key, texts, tokenizer, max_length, cache_dir)
    )


def _from_disk_or_tokenize(key, texts, tokenizer, max_length, cache_dir) -> list[np.ndarray]:
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
        source, encode, key, entry, "tokenization", remove_columns=["text"]
    )
    STATS["tokens.tokenized" if computed else "tokens.disk_hit"] += 1
    return _rows(mapped)


def _rows(mapped) -> list[np.ndarray]:
    """The `input_ids` column as one int64 array per row (views into one private copy)."""
    if mapped.num_rows == 0:
        return []
    column = mapped.data.column("input_ids").combine_chunks()
    offsets = column.offsets.to_numpy()
    values = np.array(column.values.to_numpy(), dtype=np.int64)  # a copy: not the mmap'd file
    values = values[offsets[0] :]
    return np.split(values, offsets[1:-1] - offsets[0])
