"""Builders shared by the token-classification tests: a tiny fast WordPiece tokenizer that
splits some words into several subwords, and tagged files in each supported format."""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# "aspirin" -> "asp", "##irin"; "headaches" -> "headache", "##s"; "ibuprofen" -> 3 pieces.
PIECES = [
    "the",
    "my",
    "helped",
    "with",
    "and",
    "took",
    "for",
    "a",
    "bad",
    "day",
    "pain",
    "headache",
    "##s",
    "asp",
    "##irin",
    "ibu",
    "##pro",
    "##fen",
    "migraine",
    "tylenol",
    "fever",
    ".",
    ",",
    "it",
    "was",
    "john",
    "paris",
    "in",
]


def wordpiece_tokenizer(folder: Path):
    """A fast BertTokenizer over PIECES (saved to `folder` and loaded back, as a model's)."""
    from transformers import AutoTokenizer, BertTokenizer

    vocab = SPECIALS + PIECES
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def write_conll(
    path: Path,
    sentences: list[list[tuple[str, str]]],
    docstart: bool = False,
    extra_columns: bool = False,
) -> Path:
    """Sentences of (word, tag) as a CoNLL file (word first, tag last)."""
    lines = ["-DOCSTART- -X- O O", ""] if docstart else []
    for sentence in sentences:
        for word, tag in sentence:
            lines.append(f"{word} NN I-NP {tag}" if extra_columns else f"{word} {tag}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_jsonl(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """Sentences of (word, tag) as JSONL records {"tokens": [...], "tags": [...]}."""
    path.write_text(
        "".join(
            json.dumps({"tokens": [w for w, _ in s], "tags": [t for _, t in s]}) + "\n"
            for s in sentences
        ),
        encoding="utf-8",
    )
    return path


def tagged(text: str) -> list[tuple[str, str]]:
    """'Aspirin/B-DRUG helped my headache/B-COND' -> [(word, tag)]; a bare word is O."""
    return [tuple(t.rsplit("/", 1)) if "/" in t else (t, "O") for t in text.split()]
