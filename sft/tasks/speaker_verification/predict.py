"""Prediction for speaker verification: audio paths -> the featurizer training used -> the
x-vector model -> L2-normalized embeddings; two clips -> their cosine and the verdict at the
model's threshold (the validation split's equal error rate, sft_model.json)."""

from __future__ import annotations

import numpy as np

from sft.errors import SFTConfigError, SFTDataError


def embed(predictor, paths, batch_size: int = 8, progress: bool = False) -> np.ndarray:
    """(len(paths), d) float32 embeddings, each of unit L2 norm, in the order of `paths`.
    `predictor`: a speaker model's sft.inference.predictor.Predictor (its `runner.net`, the
    transformers x-vector model, and `featurizer`, training's audio featurizer: decode,
    resample, cut to max_seconds, pad with an attention mask). SFTDataError for an input that
    is not a list of paths, or a file that cannot be decoded (naming it)."""
    import torch  # lazy: with the network

    paths = predictor.encode(paths)  # a list of strings (SFTDataError naming the input)
    net = getattr(predictor.runner, "net", None)
    if net is None:
        raise SFTConfigError(f"{predictor.folder}: speaker embeddings need the torch backend")
    device = next(net.parameters()).device
    step = max(1, int(batch_size))
    rows = []
    for start in range(0, len(paths), step):
        inputs = predictor.featurizer(paths[start : start + step])
        with torch.inference_mode():
            outputs = net(**{k: torch.from_numpy(v).to(device) for k, v in inputs.items()})
        rows.append(predictor.kind.predictions(outputs).float().cpu())
    if not rows:
        return np.zeros((0, _width(net)), dtype=np.float32)
    embeddings = torch.nn.functional.normalize(torch.cat(rows), dim=-1)
    return embeddings.numpy().astype(np.float32, copy=False)


def verify(predictor, first: str, second: str, batch_size: int = 8) -> dict:
    """{"score": cosine of the embeddings of the clips at `first` and `second`, in [-1, 1],
    "same": whether score >= the model's `verify_threshold`}."""
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, str):
            raise SFTDataError(f"verify: {name} must be an audio path, got {type(value).__name__}")
    a, b = embed(predictor, [first, second], batch_size)
    score = float(np.clip(np.dot(a, b), -1.0, 1.0))
    threshold = predictor.spec.get("verify_threshold")
    if threshold is None:
        raise SFTConfigError(f"{predictor.folder}: sft_model.json has no verify_threshold")
    return {"score": score, "same": bool(score >= float(threshold))}


def _width(net) -> int:
    """The embedding width of an x-vector model (its config's xvector_output_dim)."""
    return int(getattr(net.config, "xvector_output_dim", 0))
