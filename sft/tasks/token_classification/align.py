"""Words -> subword inputs for a fast tokenizer, with word labels on first subwords.

As transformers' examples/pytorch/token-classification/run_ner.py does (its default,
`label_all_tokens=False`): the first subword of each word carries the word's label id, the
other subwords and the special tokens carry -100, which the loss and the metrics skip.
Sequences longer than `max_length` are cut; the words cut off get no label and no
prediction, and are counted (`Encoded.truncated`) so the caller can report them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sft.cache import STATS, cached
from sft.data.arrow_cache import map_cached
from sft.data.tokenize import tokenizer_fingerprint
from sft.errors import SFTConfigError

IGNORE = -100  # the label of positions the loss and the metrics skip (torch's ignore_index)


@dataclass
class Encoded:
    """Model inputs of a list of sentences: per sentence, token ids [tokens] int64, labels
    [tokens] int64 (-100 except on each word's first subword; None without word labels),
    word_ids [tokens] int64 (the word each token belongs to, -1 for special tokens), and
    `truncated`, the number of words cut off by max_length."""

    input_ids: list[np.ndarray]
    labels: list[np.ndarray] | None
    word_ids: list[np.ndarray]
    truncated: list[int]


def word_offsets(words: list[str]) -> list[tuple[int, int]]:
    """Character offsets (start, end; end exclusive) of each word in `" ".join(words)`."""
    offsets, start = [], 0
    for word in words:
        offsets.append((start, start + len(word)))
        start += len(word) + 1
    return offsets


def first_subword_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """The label of each token: its word's label on the word's first subword, -100 on the
    other subwords and on special tokens (word id None)."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else int(word_labels[word]))
        previous = word
    return labels


def first_subword_positions(word_ids: np.ndarray, num_words: int) -> np.ndarray:
    """The position of each word's first subword in the token sequence [num_words] int64;
    -1 for a word with no token (cut off by max_length)."""
    positions = np.full(num_words, -1, dtype=np.int64)
    for position in range(len(word_ids) - 1, -1, -1):  # backwards: the first one wins
        if word_ids[position] >= 0:
            positions[word_ids[position]] = position
    return positions


def check_fast(tokenizer) -> None:
    """Raise SFTConfigError unless `tokenizer` is a fast one (word_ids() needs it)."""
    if not getattr(tokenizer, "is_fast", False):
        raise SFTConfigError(
            f"token classification needs a fast tokenizer (it maps subwords "
            f"back to words); {type(tokenizer).__name__} is not one: use a "
            f"model folder with a tokenizer.json"
        )


def encode_words(
    words: list[list[str]],
    tokenizer,
    max_length: int,
    labels: list[list[int]] | None = None,
    cache_dir: str | os.PathLike | None = None,
    tokenizer_id: str | None = None,
) -> Encoded:
    """Tokenize pre-split sentences (`is_split_into_words=True`, truncated to `max_length`,
    special tokens added) and align `labels` (word label ids per sentence) to first subwords.

    Cached in this process (sft.cache) and, unless `cache_dir` is None, in
    `cache_dir/word_tokens/<key>.arrow` (datasets' map cache, as sft.data.tokenize).
    Raises SFTConfigError for a slow tokenizer.
    """
    check_fast(tokenizer)
    key = _cache_key(words, labels, tokenizer_id or tokenizer_fingerprint(tokenizer), max_length)
    return cached(
        "word_tokens", key, lambda: _encode(key, words, labels, tokenizer, max_length, cache_dir)
    )


def _cache_key(words, labels, tokenizer_id: str, max_length: int) -> str:
    digest = hashlib.sha256(f"{tokenizer_id}|{max_length}|{len(words)}|{labels is None}".encode())
    for i, sentence in enumerate(words):
        digest.update("\x1f".join(sentence).encode("utf-8", "surrogatepass") + b"\x00")
        if labels is not None:
            digest.update(np.asarray(labels[i], dtype=np.int64).tobytes())
    return digest.hexdigest()[:32]


def tokenize_words(
    words: list[list[str]], tokenizer, max_length: int, labels: list[list[int]] | None = None
) -> Encoded:
    """`encode_words` without the caches: for prediction, where the texts change per call.
    Raises SFTConfigError for a slow tokenizer."""
    check_fast(tokenizer)
    rows = _tokenize(words, labels, tokenizer, max_length)
    as_arrays = {k: [np.asarray(r, dtype=np.int64) for r in v] for k, v in rows.items()}
    return _encoded(
        words,
        as_arrays["input_ids"],
        as_arrays["word_ids"],
        as_arrays["labels"] if labels is not None else None,
    )


def _tokenize(words, labels, tokenizer, max_length) -> dict[str, list[list[int]]]:
    """input_ids, word_ids (-1 for special tokens) and labels ([] without labels) per row."""
    encoding = tokenizer(
        [list(s) for s in words],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    out = {"input_ids": encoding["input_ids"], "word_ids": [], "labels": []}
    for row in range(len(words)):
        ids = encoding.word_ids(row)
        out["word_ids"].append([-1 if w is None else w for w in ids])
        out["labels"].append(first_subword_labels(ids, labels[row]) if labels is not None else [])
    return out


def _encoded(words, input_ids, word_ids, labels) -> Encoded:
    truncated = [
        len(s) - (int(w.max()) + 1 if len(w) and w.max() >= 0 else 0)
        for s, w in zip(words, word_ids)
    ]
    return Encoded(input_ids, labels, word_ids, truncated)


def _encode(key, words, labels, tokenizer, max_length, cache_dir) -> Encoded:
    import datasets  # lazy: datasets and pyarrow (~1 s) only when an encoding runs

    datasets.disable_progress_bars()

    def encode(batch):
        return _tokenize(batch["words"], batch.get("labels"), tokenizer, max_length)

    columns = {"words": [list(s) for s in words]}
    if labels is not None:
        columns["labels"] = [list(map(int, s)) for s in labels]
    source = datasets.Dataset.from_dict(columns)
    entry = None if cache_dir is None else Path(cache_dir) / "word_tokens" / f"{key}.arrow"
    mapped, computed = map_cached(
        source, encode, key, entry, "word tokenization", remove_columns=list(columns)
    )
    STATS["word_tokens.tokenized" if computed else "word_tokens.disk_hit"] += 1
    return _encoded(
        words,
        _rows(mapped, "input_ids"),
        _rows(mapped, "word_ids"),
        _rows(mapped, "labels") if labels is not None else None,
    )


def _rows(mapped, column: str) -> list[np.ndarray]:
    """One int64 array per row of a list column (copies, not views of the mapped file)."""
    if mapped.num_rows == 0:
        return []
    values = mapped.data.column(column).combine_chunks()
    offsets = values.offsets.to_numpy()
    flat = np.array(values.values.to_numpy(), dtype=np.int64)[offsets[0] :]
    return np.split(flat, offsets[1:-1] - offsets[0])
