"""Tokenize once: cached in memory for the process (sft.cache) and on disk under `outputs/cache/`,
keyed by a hash of the texts, the tokenizer and `max_length`.

The on-disk entry is a 🤗 datasets Arrow folder written to a temporary name and renamed into
place, so a crashed writer never leaves a half-written entry under the real key. The entry
also records the row count and a sha256 of the token ids: one that fails to load or whose
ids do not match (a damaged or truncated file) is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sft.cache import STATS, cached

log = logging.getLogger(__name__)

CHECKSUM = "sft_checksum.json"


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


def tokenize(texts: list[str], tokenizer, max_length: int, cache_dir: str | os.PathLike | None,
             tokenizer_id: str | None = None) -> list[np.ndarray]:
    """Token ids (int64 arrays, special tokens added, truncated to `max_length`) per text."""
    key = cache_key(texts, tokenizer_id or tokenizer_fingerprint(tokenizer), max_length)
    return cached("tokens", key, lambda: _from_disk_or_tokenize(key, texts, tokenizer,
                                                                max_length, cache_dir))


def _from_disk_or_tokenize(key, texts, tokenizer, max_length, cache_dir) -> list[np.ndarray]:
    entry = Path(cache_dir) / "tokens" / key if cache_dir is not None else None
    ids = _load(entry) if entry is not None else None
    if ids is not None:
        STATS["tokens.disk_hit"] += 1
        return ids
    encoded = tokenizer(texts, truncation=True, max_length=max_length,
                        return_attention_mask=False, return_token_type_ids=False)
    ids = [np.asarray(row, dtype=np.int64) for row in encoded["input_ids"]]
    STATS["tokens.tokenized"] += 1
    if entry is not None:
        _store(entry, ids)
    return ids


def _load(entry: Path) -> list[np.ndarray] | None:
    if not entry.is_dir():
        return None
    import datasets

    try:
        column = datasets.load_from_disk(str(entry)).data.column("input_ids")
        ids = [np.asarray(row, dtype=np.int64) for row in column.to_numpy(zero_copy_only=False)]
        expected = json.loads((entry / CHECKSUM).read_text())
        if expected != _checksum(ids):
            raise ValueError(f"its token ids do not match {CHECKSUM}")
        return ids
    except Exception as err:  # a damaged entry of any kind is rebuilt, never used
        log.warning("tokenization cache entry %s is unreadable (%s); rebuilding it", entry, err)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _checksum(ids: list[np.ndarray]) -> dict:
    """Row count and sha256 of the ids (each row's length, then its values)."""
    digest = hashlib.sha256()
    for row in ids:
        digest.update(np.int64(len(row)).tobytes())
        digest.update(np.ascontiguousarray(row, dtype=np.int64).tobytes())
    return {"rows": len(ids), "sha256": digest.hexdigest()}


def _store(entry: Path, ids: list[np.ndarray]) -> None:
    import datasets

    datasets.disable_progress_bars()
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        datasets.Dataset.from_dict({"input_ids": [row.tolist() for row in ids]}).save_to_disk(
            str(staging / "data"))
        (staging / "data" / CHECKSUM).write_text(json.dumps(_checksum(ids)))
        os.replace(staging / "data", entry)  # atomic: readers see all of it or nothing
    except OSError as err:
        if not entry.is_dir():  # another process may have won the race; that is fine
            log.warning("could not write tokenization cache %s: %s", entry, err)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
