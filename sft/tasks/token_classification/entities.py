"""Per-word predictions -> entities with character spans; raw text -> words with offsets.

A prediction's spans index the text it was made on: the user's raw text (split into words
here), or `" ".join(words)` for pre-split words (sft.tasks.token_classification.align.
word_offsets).
"""

from __future__ import annotations

import re

import numpy as np

from sft.tasks.token_classification.tags import spans

# Words for raw text: runs of letters/digits (with inner hyphens and apostrophes, as in
# "anti-inflammatory", "didn't"), and each other non-space character on its own, so that
# "Dilaudid." gives "Dilaudid" and "." as CoNLL-style data splits them; the demo data
# (sft.tasks.token_classification.demo) is split with the same pattern.
WORD_PATTERN = r"\w+(?:[-'\u2019]\w+)*|[^\w\s]"


def split_words(text: str, pattern: str = WORD_PATTERN) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of raw `text` and their character offsets in it (start, end exclusive).
    `pattern` "whitespace" splits on whitespace only; another value is a regular expression
    whose matches are the words."""
    regex = r"\S+" if pattern == "whitespace" else pattern
    found = [(m.group(), m.start(), m.end()) for m in re.finditer(regex, text)]
    return [w for w, _, _ in found], [(s, e) for _, s, e in found]


def word_predictions(
    token_probs: np.ndarray, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-word tag ids and their probabilities from per-token probabilities
    [tokens, tags] and each word's first-subword position [words] (-1: the word has no
    token). A word without a token gets tag id 0 (O, first in the tag list) and score 0."""
    ids = np.zeros(len(positions), dtype=np.int64)
    scores = np.zeros(len(positions), dtype=np.float64)
    kept = positions >= 0
    chosen = token_probs[positions[kept]]
    ids[kept] = chosen.argmax(axis=-1)
    scores[kept] = chosen.max(axis=-1)
    return ids, scores


def decode_entities(
    text: str, offsets: list[tuple[int, int]], tag_ids, scores, tag_names: list[str], scheme: str
) -> list[dict]:
    """Entities of one text from its words' predicted tag ids and their probabilities.

    Each is {"type", "start", "end" (character offsets into `text`, end exclusive), "text"
    (text[start:end]), "score" (the mean probability of its words' predicted tags),
    "words": [first, end] (word indices, end exclusive)}, in text order. Spans follow the
    strict CoNLL rules of sft.tasks.token_classification.tags.spans, as the metrics do.
    """
    tags = [tag_names[int(i)] for i in tag_ids]
    found = []
    for kind, first, last in spans(tags, scheme):
        start, end = offsets[first][0], offsets[last][1]
        found.append(
            {
                "type": kind,
                "start": int(start),
                "end": int(end),
                "text": text[start:end],
                "score": float(np.mean([float(scores[i]) for i in range(first, last + 1)])),
                "words": [first, last + 1],
            }
        )
    return found
