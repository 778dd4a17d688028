"""The token-classification family: one tag per word (named entities, other per-word
labels), from a per-token head.

Its parts: `tags` (IOB2/BIOES rules and spans), `readers` (CoNLL, JSONL, saved datasets),
`align` (words -> subwords, labels on first subwords), `collate`, `data` (TokenDataModule),
`metrics` (entity P/R/F1, token accuracy), `entities` and `predict` (texts -> entities with
character spans), `demo` (an offline data set), `task` (what generic code asks). Importing
this package imports numpy only (the registry reads it without torch).
"""

from __future__ import annotations

from sft.tasks.token_classification.task import NAME, TokenClassificationTask, TokenFamily

TOKEN_FAMILY = TokenFamily()
TOKEN_CLASSIFICATION = TokenClassificationTask(TOKEN_FAMILY)
TOKEN_FAMILY.task = TOKEN_CLASSIFICATION

__all__ = ["NAME", "TOKEN_FAMILY", "TOKEN_CLASSIFICATION", "TokenClassificationTask", "TokenFamily"]
