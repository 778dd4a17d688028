"""Prediction for speech-to-text: audio paths -> the model's feature extractor (each clip
alone, as in training) -> padded batches with an attention mask -> the CTC model -> greedy
decoding over each clip's real frames -> {"text": transcript}."""

from __future__ import annotations

import numpy as np

from sft.errors import SFTDataError

TOKENIZER = "_speech_tokenizer"  # where the predictor keeps the CTC tokenizer once loaded


def tokenizer_of(predictor):
    """The CTC tokenizer saved in the model folder (loaded once per predictor)."""
    tokenizer = getattr(predictor, TOKENIZER, None)
    if tokenizer is None:
        from transformers import AutoTokenizer  # lazy: with the model

        tokenizer = AutoTokenizer.from_pretrained(str(predictor.folder))
        setattr(predictor, TOKENIZER, tokenizer)
    return tokenizer


def batches(predictor, paths, batch_size: int = 16):
    """Per batch of the clips at `paths`, in order: the model's logits [b, frames, vocab]
    and each clip's real output frames [b]. `predictor`: sft.inference.predictor.Predictor
    of a speech model (`tokenizer`: its feature extractor; `runner.net`: the CTC model).
    SFTDataError for an input that is not a list of paths, or an unreadable file."""
    import torch  # lazy: with the network

    from sft.tasks.speech_to_text.decode import output_lengths
    from sft.tasks.speech_to_text.features import SpeechFeaturizer, pad_batch

    if isinstance(paths, str):
        raise SFTDataError("expected a list of audio paths, got a single string")
    paths = list(paths)
    for i, path in enumerate(paths):
        if not isinstance(path, str):
            raise SFTDataError(f"input {i}: expected an audio path, got {type(path).__name__}")
    featurizer = SpeechFeaturizer(predictor.tokenizer)
    net = predictor.runner.net
    device = next(net.parameters()).device
    step = max(1, int(batch_size))
    for start in range(0, len(paths), step):
        values, mask = pad_batch(featurizer.base(paths[start : start + step]))
        feed = {
            featurizer.key: torch.from_numpy(values).to(device),
            "attention_mask": torch.from_numpy(mask).to(device),
        }
        with torch.inference_mode():
            logits = net(**feed).logits.float()
        lengths = output_lengths(net, feed["attention_mask"].sum(-1)).clamp(max=logits.shape[1])
        yield logits, lengths


def predict_texts(predictor, paths, batch_size: int = 16) -> list[dict]:
    """One {"text": transcript} per audio path, in order (greedy CTC, decode.py)."""
    from sft.tasks.speech_to_text.decode import greedy_ids, ids_to_text
    from sft.tasks.speech_to_text.vocab import token_list

    tokenizer = tokenizer_of(predictor)
    tokens, blank = token_list(tokenizer), tokenizer.pad_token_id
    records = []
    for logits, lengths in batches(predictor, paths, batch_size):
        records += [
            {"text": ids_to_text(ids, tokens)} for ids in greedy_ids(logits, lengths, blank)
        ]
    return records


def raw_outputs(predictor, paths, batch_size: int = 16) -> np.ndarray:
    """The logits of every clip's real output frames, clips in order: [frames, vocab]."""
    rows = [
        row[: int(length)].cpu().numpy()
        for logits, lengths in batches(predictor, paths, batch_size)
        for row, length in zip(logits, lengths)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
