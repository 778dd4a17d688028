"""Which pixels, which moments of a clip made an image or audio model's prediction:
integrated gradients (Sundararajan et al. 2017) on the model's input tensor (`pixel_values`,
`input_values`: the processor's normalized pixels, waveform or spectrogram), by Captum's
`IntegratedGradients`, on the same explained logit as text (sft.inference.explain).

For an input x and a baseline x', the attribution of each input coordinate is
`(x_j - x'_j) * mean over alpha of d f(x' + alpha (x - x')) / d x_j`; completeness: they sum
to f(x) - f(x') up to the integral's error, reported as `delta`.

- Images: the attribution summed over the colour channels -> a heat map [h, w] at the
  model's input resolution (the image as the processor resized / cropped it).
- Audio: a spectrogram's attribution (AST: [frames, mel bins]) summed over the mel bins,
  one bin per frame (its hop, 10 ms); a waveform model with a convolutional feature encoder
  (wav2vec2, HuBERT) is attributed at the frames its transformer reads (`_explainer` says
  why; one bin per frame, 20 ms at 16 kHz), summed over their dimensions; another waveform model's
  per-sample attribution is summed into 10 ms bins.

The baseline is the processor's own output for a blank input of the same size, so it is
what the model would read for "nothing": `black` (default for images: the IG paper's and
Captum's image baseline, no light at all) or `mean` (the processor's mean colour, the
all-zero normalized tensor); for audio `silence` (a zero waveform, through the extractor).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from tqdm.auto import tqdm

from sft.data.media import load_audio
from sft.errors import SFTConfigError, SFTDataError

BASELINES = {"image": ("black", "mean"), "audio": ("silence",)}
BIN_SECONDS = 0.01  # audio scores are reported per 10 ms of the clip
KALDI_HOP_SECONDS = 0.01  # the frame shift of Kaldi fbank features (AST's extractor)


def explain_media(
    predictor,
    paths: Sequence[str],
    target: str | None = None,
    n_steps: int = 50,
    baseline: str | None = None,
    internal_batch_size: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """One explanation per file, in order: `path`, `target`, `predicted`, `probability`,
    `logit` f(x), `baseline_logit` f(x'), `delta`, `baseline`, and
    images: `image` (uint8 [h, w, 3], the picture as the model saw it) and `heat` (float64
    [h, w], the attribution summed over channels); audio: `clip` (float32 samples as
    decoded), `sampling_rate`, `duration` (s), `truncated` (longer than max_seconds),
    `times` (start of each bin, s), `bin_seconds` and `scores` (float64, per bin; they sum
    to the attribution total).

    SFTConfigError for a setting or model that cannot be explained (a baseline of the
    other modality, no PyTorch network, an unknown target); SFTDataError naming a file that
    does not decode."""
    featurizer = predictor.featurizer
    modality = featurizer.modality
    baseline = baseline or BASELINES[modality][0]
    check_settings(predictor, modality, n_steps, baseline, internal_batch_size)
    ask = getattr(predictor.kind, "explanation_target", None)
    if ask is None:
        raise SFTConfigError(f"explanations are not available for task '{predictor.task}'")
    paths = predictor.encode(paths)
    explainer = _explainer(predictor.runner.net, modality)
    bar = tqdm(total=len(paths), unit="file", disable=not progress, file=sys.stderr)
    out = []
    for path in paths:
        one = _image if modality == "image" else _audio
        out.append(one(predictor, explainer, ask, path, target, n_steps, baseline,
                       internal_batch_size))  # fmt: skip
        bar.update(1)
    bar.close()
    return out


def check_settings(predictor, modality, n_steps, baseline, internal_batch_size) -> None:
    """SFTConfigError, one line, for a request that cannot be explained."""
    if getattr(predictor.runner, "net", None) is None:
        raise SFTConfigError(
            f"{predictor.folder}: explanations need the model's gradients, and this folder "
            f"is run by {predictor.backend} (load the PyTorch weights: backend=torch)"
        )
    if baseline not in BASELINES[modality]:
        raise SFTConfigError(
            f"baseline: '{baseline}' is not a baseline of {modality} models "
            f"(choices: {', '.join(BASELINES[modality])})"
        )
    if int(n_steps) < 1:
        raise SFTConfigError(f"n_steps: must be >= 1, got {n_steps}")
    if internal_batch_size is not None and int(internal_batch_size) < 1:
        raise SFTConfigError(f"internal_batch_size: must be >= 1, got {internal_batch_size}")


def _explainer(net, modality: str):
    """IntegratedGradients on the input tensor; for a waveform model with a convolutional
    feature encoder (wav2vec2, HuBERT, WavLM: `feature_extractor`), LayerIntegratedGradients
    on the frames its transformer reads (the input of `encoder.encoder`: the convolutional
    features, projected). Why: the convolutions normalize (group norm over the clip, or
    layer norm per frame), so the network is blind to the waveform's scale and the change
    from silence happens within alpha ~ 1e-3 of it, where the integral's points do not
    fall. Measured on a tiny wav2vec2 at 16 steps, for a logit change of -1.29: delta 0.18
    at the convolutions' output (a layer norm follows), 1e-7 at the transformer's input."""
    forward = _logit_of(net)
    if modality == "audio" and getattr(net.encoder, "feature_extractor", None) is not None:
        return LayerIntegratedGradients(forward, net.encoder.encoder)
    return IntegratedGradients(forward)


def _on_frames(explainer) -> bool:
    return isinstance(explainer, LayerIntegratedGradients)


def _logit_of(net):
    """f(values, mask, key, weights): the explained logit per row."""

    def forward(values, mask, key: str, weights: tuple):
        # weights a tuple, not a tensor: Captum would repeat a tensor argument per step
        out = net(None, mask, **{key: values})
        return out @ torch.tensor(weights, dtype=out.dtype, device=out.device)

    return forward


def _attribute(predictor, explainer, ask, inputs, reference, target, n_steps, batch) -> tuple:
    """(attribution of the input tensor as numpy float64 without its batch axis, the record
    fields shared by images and audio)."""
    device = getattr(predictor.runner, "device", "cpu")
    key = "pixel_values" if "pixel_values" in inputs else "input_values"
    values = torch.from_numpy(inputs[key]).to(device)
    blank = torch.from_numpy(reference[key]).to(device)
    mask = inputs.get("attention_mask")
    # One clip, padded to itself: its mask is all ones and changes nothing, but given, the
    # wav2vec2 encoder zeroes padded frames in place, which autograd refuses on the leaf
    # Captum makes of the frames.
    mask = None if mask is None or mask.all() else torch.from_numpy(mask).to(device)
    with torch.no_grad():
        raw = predictor.runner.net(None, mask, **{key: values})[0].float().cpu().numpy()
    goal = ask(raw, predictor.spec, target)
    args = (mask, key, tuple(float(w) for w in goal["weights"]))
    scores, delta = explainer.attribute(
        values,
        baselines=blank,
        additional_forward_args=args,
        n_steps=int(n_steps),
        internal_batch_size=int(batch or n_steps),
        return_convergence_delta=True,
        **({"attribute_to_layer_input": True} if _on_frames(explainer) else {}),
    )
    scores = scores[0] if isinstance(scores, tuple) else scores  # a layer's input: a tuple
    with torch.no_grad():
        reference_logit = float(explainer.forward_func(blank, *args)[0])
    fields = {
        "target": goal["target"],
        "predicted": goal["predicted"],
        "probability": goal["probability"],
        "logit": float(raw @ np.asarray(goal["weights"], dtype=np.float32)),
        "baseline_logit": reference_logit,
        "delta": float(delta[0]),
    }
    return scores[0].detach().double().cpu().numpy(), fields


def _image(predictor, explainer, ask, path, target, n_steps, baseline, batch) -> dict:
    featurizer = predictor.featurizer
    base = featurizer.base([path])[0]  # uint8 [h, w, 3] at the model's size
    reference = featurizer.from_base([blank_image(featurizer.processor, base, baseline)])
    scores, fields = _attribute(
        predictor, explainer, ask, featurizer.from_base([base]), reference, target, n_steps, batch
    )
    return {"path": path, **fields, "baseline": baseline, "image": base, "heat": scores.sum(0)}


def blank_image(processor, like: np.ndarray, baseline: str) -> np.ndarray:
    """The baseline picture in pixel space (uint8, shaped as `like`): all black, or the
    processor's mean colour (`image_mean`, rounded to 8 bits as any picture is; what its
    normalization maps to zero)."""
    if baseline == "black":
        return np.zeros_like(like)
    mean = np.asarray(getattr(processor, "image_mean", None) or [0.5, 0.5, 0.5], dtype=float)
    return np.broadcast_to(np.rint(mean * 255).astype(np.uint8), like.shape).copy()


def _audio(predictor, explainer, ask, path, target, n_steps, baseline, batch) -> dict:
    featurizer = predictor.featurizer
    clip = load_audio(path, featurizer.sampling_rate)
    kept = clip[: featurizer.samples]
    inputs = featurizer.from_base([kept])
    reference = featurizer.from_base([np.zeros_like(kept)])  # silence, as the extractor sees it
    scores, fields = _attribute(
        predictor, explainer, ask, inputs, reference, target, n_steps, batch
    )
    if _on_frames(explainer):  # [frames, hidden] of the transformer's input
        config = predictor.runner.net.encoder.config
        hop = int(np.prod(config.conv_stride)) / featurizer.sampling_rate
        times, bin_seconds, binned = np.arange(len(scores)) * hop, hop, scores.sum(-1)
    else:
        times, bin_seconds, binned = time_scores(scores, featurizer)
    return {
        "path": path,
        **fields,
        "baseline": baseline,
        "clip": kept,
        "sampling_rate": featurizer.sampling_rate,
        "duration": len(kept) / featurizer.sampling_rate,
        "truncated": len(clip) > featurizer.samples,
        "times": times,
        "bin_seconds": bin_seconds,
        "scores": binned,
    }


def time_scores(scores: np.ndarray, featurizer) -> tuple[np.ndarray, float, np.ndarray]:
    """An audio input's attribution as scores over time: (bin starts in s, bin length in s,
    score per bin). A waveform [samples]: consecutive samples summed into BIN_SECONDS bins
    (the last one shorter); a spectrogram [frames, mel bins] (or [mel bins, frames]): summed
    over the mel bins, one bin per frame, at the extractor's hop (`hop_length` samples, else
    Kaldi's 10 ms frame shift, AST's). Every coordinate lands in one bin: the bins sum to
    the total."""
    if scores.ndim == 1:
        rate = featurizer.sampling_rate
        step = max(1, round(rate * BIN_SECONDS))
        starts = np.arange(0, len(scores), step)
        return starts / rate, step / rate, np.add.reduceat(scores, starts)
    if scores.ndim != 2:
        raise SFTDataError(f"audio input of shape {scores.shape}: cannot map it to time")
    extractor = featurizer.extractor
    mels = getattr(extractor, "num_mel_bins", None) or getattr(extractor, "feature_size", None)
    per_frame = scores.sum(1) if scores.shape[1] == mels else scores.sum(0)
    hop = getattr(extractor, "hop_length", None)
    hop_seconds = hop / featurizer.sampling_rate if hop else KALDI_HOP_SECONDS
    return np.arange(len(per_frame)) * hop_seconds, hop_seconds, per_frame
