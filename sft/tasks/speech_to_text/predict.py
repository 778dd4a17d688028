"""Prediction for speech-to-text: audio paths -> the model's feature extractor (each clip
alone, as in training) -> padded batches with an attention mask -> the CTC model -> greedy
decoding over each clip's real frames -> {"text": transcript}."""

from __future__ import annotations

import numpy as np

from sft.errors import SFTDataError
from sft.tasks.speech_to_text.vocab import greedy_ids, ids_to_text, token_list

TOKENIZER = "_speech_tokenizer"  # where the predictor keeps the CTC tokenizer once loaded


def tokenizer_of(predictor):
    """The CTC tokenizer saved in the model folder (loaded once per predictor)."""
    tokenizer = getattr(predictor, TOKENIZER, None)
    if tokenizer is None:
        from transformers import AutoTokenizer  # lazy: with the model

        tokenizer = AutoTokenizer.from_pretrained(str(predictor.folder))
        setattr(predictor, TOKENIZER, tokenizer)
    return tokenizer


def clip_features(predictor, paths) -> tuple:
    """The padded features [b, longest, ...] float32 and attention mask [b, longest] int64
    of the clips at `paths` (as in training: each clip alone through the feature extractor,
    `predictor.tokenizer`), and the model input's name."""
    from sft.tasks.speech_to_text.features import SpeechFeaturizer, pad_batch  # lazy: audio

    featurizer = SpeechFeaturizer(predictor.tokenizer)
    return (*pad_batch(featurizer.base(list(paths))), featurizer.key)


def batches(predictor, paths, batch_size: int = 16):
    """Per batch of the clips at `paths`, in order: the model's logits [b, frames, vocab]
    and each clip's real output frames [b] (numpy). `predictor`: sft.inference.predictor.
    Predictor of a speech model (`tokenizer`: its feature extractor; `runner`: the CTC
    model in torch, or its ONNX graph of onnx_graph). SFTDataError for an input that is not
    a list of paths, or an unreadable file."""
    if isinstance(paths, str):
        raise SFTDataError("expected a list of audio paths, got a single string")
    paths = list(paths)
    for i, path in enumerate(paths):
        if not isinstance(path, str):
            raise SFTDataError(f"input {i}: expected an audio path, got {type(path).__name__}")
    step = max(1, int(batch_size))
    for start in range(0, len(paths), step):
        values, mask, key = clip_features(predictor, paths[start : start + step])
        session = getattr(predictor.runner, "session", None)
        if session is not None:  # onnxruntime: the exported (logits, lengths)
            logits, lengths = session.run(None, {key: values, "attention_mask": mask})
        else:
            logits, lengths = run_torch(predictor.runner.net, values, mask)
        yield logits, lengths


def run_torch(net, values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, output lengths) of the torch CTC model `net` as numpy arrays."""
    import torch  # lazy: an ONNX folder predicts without torch

    from sft.tasks.speech_to_text.decode import CTCGraph  # lazy: torch

    device = next(net.parameters()).device
    graph = CTCGraph(net)
    with torch.inference_mode():
        logits, lengths = graph(
            torch.from_numpy(values).to(device), torch.from_numpy(mask).to(device)
        )
    return logits.cpu().numpy(), lengths.cpu().numpy()


def onnx_graph(predictor, examples):
    """What sft-export format=onnx traces: the CTCGraph of the model, two example clips
    (one padded), the input names and their dynamic batch and time axes, the output names."""
    # lazy: export runs torch
    import torch
    from torch.export import Dim

    from sft.tasks.speech_to_text.decode import CTCGraph

    clips = list(examples[:2]) * (2 if len(examples) < 2 else 1)
    values, mask, key = clip_features(predictor, clips)
    axes = {0: Dim("batch"), 1: Dim("time")}
    args = (torch.from_numpy(values), torch.from_numpy(mask))
    return (
        CTCGraph(predictor.runner.net),
        args,
        [key, "attention_mask"],
        (axes, axes),
        ["logits", "lengths"],
    )


def predict_texts(predictor, paths, batch_size: int = 16) -> list[dict]:
    """One {"text": transcript} per audio path, in order (greedy CTC, decode.py)."""
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
        np.asarray(row[: int(length)], dtype=np.float32)
        for logits, lengths in batches(predictor, paths, batch_size)
        for row, length in zip(logits, lengths)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
