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


def word_logits(predictor, texts, batch_size: int = 32) -> list[dict]:
    """Per text, in order: its words' character `offsets`, the raw tag logits of each word's
    first subword `logits` [words, tags] float32 (a row of zeros for a word cut off by
    max_length: `positions` -1), and `truncated` words. Raw text is split into words by the
    model's `word_pattern` (entities.split_words); the network runs on batches of similar
    length (predictor.runner: PyTorch or onnxruntime). Raises SFTDataError for an input that
    is not a list of strings."""
    if isinstance(texts, str):
        raise SFTDataError("expected a list of texts, got a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SFTDataError(f"input {i}: expected a string, got {type(text).__name__}")
    spec = predictor.spec
    width = int(spec["num_outputs"])
    split = [split_words(t, spec.get("word_pattern", WORD_PATTERN)) for t in texts]
    out = [
        {
            "offsets": offsets,
            "logits": np.zeros((len(words), width), dtype=np.float32),
            "positions": np.full(len(words), -1, dtype=np.int64),
            "truncated": 0,
        }
        for words, offsets in split
    ]
    todo = [i for i, (words, _) in enumerate(split) if words]  # a blank text has no entities
    order = sorted(todo, key=lambda i: -len(split[i][0]))  # similar lengths: little padding
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encoded = tokenize_words(
            [split[i][0] for i in batch], predictor.tokenizer, predictor.max_length
        )
        input_ids, mask = predictor.pad(encoded.input_ids)
        raw = np.asarray(predictor.runner(input_ids, mask), dtype=np.float32)
        for row, i in enumerate(batch):
            positions = first_subword_positions(encoded.word_ids[row], len(split[i][0]))
            kept = positions >= 0
            out[i]["logits"][kept] = raw[row, positions[kept]]
            out[i]["positions"] = positions
            out[i]["truncated"] = int(encoded.truncated[row])
    return out


def predict_entities(predictor, texts, batch_size: int = 32, progress: bool = False) -> list[dict]:
    """One record {"entities": [...], "truncated_words": n} per text, in order, from a
    sft.inference.predictor.Predictor (its tokenizer, runner, spec and padding): `word_logits`
    -> tag probabilities per word -> entities (entities.decode_entities) with character
    spans into the text as given. Words past the model's max_length get no tag and are
    counted in `truncated_words`. Raises SFTDataError for an input that is not a list of
    strings."""
    spec = predictor.spec
    names, scheme = list(spec["labels"]), spec.get("scheme", "iob2")
    records = []
    for text, words in zip(texts, word_logits(predictor, texts, batch_size)):
        probs = softmax(words["logits"]) if len(words["logits"]) else words["logits"]
        ids, scores = word_predictions(
            probs, np.where(words["positions"] >= 0, np.arange(len(probs)), -1)
        )
        records.append(
            {
                "entities": decode_entities(text, words["offsets"], ids, scores, names, scheme),
                "truncated_words": words["truncated"],
            }
        )
    return records


def raw_outputs(predictor, texts, batch_size: int = 32) -> np.ndarray:
    """Every word's first-subword tag logits, texts in order, [total words, tags]: what
    sft-export compares between a model and its ONNX copy."""
    rows = [words["logits"] for words in word_logits(predictor, texts, batch_size)]
    width = int(predictor.spec["num_outputs"])
    return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)
