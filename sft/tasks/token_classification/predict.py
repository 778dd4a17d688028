"""Prediction for token classification: texts -> words (with character offsets) -> subword
ids -> per-token tag probabilities -> entities with spans into each text."""

from __future__ import annotations

import numpy as np

from sft.errors import SFTDataError
from sft.tasks.token_classification.align import first_subword_positions, tokenize_words
from sft.tasks.token_classification.entities import (
    WORD_PATTERN,
    decode_entities,
    split_words,
    word_predictions,
)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (float64)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predict_entities(predictor, texts, batch_size: int = 32, progress: bool = False) -> list[dict]:
    """One record {"entities": [...], "truncated_words": n} per text, in order, from a
    sft.inference.predictor.Predictor (its tokenizer, runner, spec and padding). Raw text is
    split into words by the model's `word_pattern` (entities.split_words); words past the
    model's max_length get no tag and are counted in `truncated_words`. Raises SFTDataError
    for an input that is not a list of strings."""
    if isinstance(texts, str):
        raise SFTDataError("expected a list of texts, got a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SFTDataError(f"input {i}: expected a string, got {type(text).__name__}")
    spec = predictor.spec
    names, scheme = list(spec["labels"]), spec.get("scheme", "iob2")
    split = [split_words(t, spec.get("word_pattern", WORD_PATTERN)) for t in texts]
    records: list[dict] = [{"entities": [], "truncated_words": 0} for _ in texts]
    todo = [i for i, (words, _) in enumerate(split) if words]  # a blank text has no entities
    order = sorted(todo, key=lambda i: -len(split[i][0]))  # similar lengths: little padding
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encoded = tokenize_words(
            [split[i][0] for i in batch], predictor.tokenizer, predictor.max_length
        )
        input_ids, mask = predictor.pad(encoded.input_ids)
        probs = softmax(np.asarray(predictor.runner(input_ids, mask)))
        for row, i in enumerate(batch):
            words, offsets = split[i]
            positions = first_subword_positions(encoded.word_ids[row], len(words))
            ids, scores = word_predictions(probs[row], positions)
            records[i] = {
                "entities": decode_entities(texts[i], offsets, ids, scores, names, scheme),
                "truncated_words": int(encoded.truncated[row]),
            }
    return records
