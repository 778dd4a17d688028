"""Which words made a text model's prediction: integrated gradients (Sundararajan et al.
2017, "Axiomatic Attribution for Deep Networks") on the input embeddings, by Captum's
`LayerIntegratedGradients`, merged from tokens to words.

For one text x and a baseline x' (the same tokens with every word replaced, special tokens
kept), the attribution of embedding coordinate j is
`(e_j(x) - e_j(x')) * mean over alpha of d f(e(x') + alpha (e(x) - e(x'))) / d e_j`, with f
the explained logit (the task says which: sft.tasks.sequence `explanation_target`). A
token's score is the sum over its embedding dimensions; a word's the sum of its tokens'
(the fast tokenizer's `word_ids` and offsets). Completeness: the scores sum to
f(x) - f(x') up to the integral's error, reported per text as `delta`.

Asked by `Predictor.explain` (sft.inference.predictor); a task without
`explanation_target`, an ONNX runner (no gradients): SFTConfigError, one line. Image and
audio models: sft.inference.explain_media.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients
from tqdm.auto import tqdm

from sft.errors import SFTConfigError, SFTDataError

# What replaces each word in the baseline text. `pad` (default): the text with its words
# blanked to padding, the reference of Captum's BERT tutorial; a fine-tuned classifier has
# seen [PAD] only as filler, so the baseline is close to "no evidence". `mask`: [MASK], the
# pretraining's "unknown word" (models without a mask token refuse it). `zero`: the zero
# vector in place of each word's embedding (off the embedding manifold, but free of any
# token's meaning).
BASELINES = ("pad", "mask", "zero")
DEFAULT_STEPS = 50


def explain_texts(
    predictor,
    texts: Sequence[str],
    target: str | None = None,
    n_steps: int = DEFAULT_STEPS,
    baseline: str | None = "pad",
    internal_batch_size: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """One explanation per text, in order: `text` (as the model read it, cleaned as in
    training), `target`, `predicted`, `probability` (of the target; None for regression),
    `logit` f(x) and `baseline_logit` f(x') of the explained output, `delta` (sum of scores
    minus f(x) - f(x')), `truncated` (words past max_length were not read), and `words`:
    [{"word", "start", "end" (character offsets in `text`), "score"}] in reading order.

    `target`: a label name (None: each text's predicted label); `n_steps`: points of the
    Riemann (Gauss-Legendre) integral; `internal_batch_size`: steps per forward pass (None:
    all `n_steps` at once). SFTConfigError for a model or setting that cannot be explained,
    SFTDataError for an empty text."""
    ask = getattr(predictor.kind, "explanation_target", None)
    if ask is None:
        raise SFTConfigError(f"explanations are not available for task '{predictor.task}'")
    baseline = baseline or "pad"
    _check_settings(predictor, n_steps, baseline, internal_batch_size)
    texts = _checked_texts(predictor, texts)
    net = predictor.runner.net
    layer = net.encoder.get_input_embeddings()
    explainer = LayerIntegratedGradients(_logit_of(net), layer)
    bar = tqdm(total=len(texts), unit="text", disable=not progress, file=sys.stderr)
    out = []
    for text in texts:
        out.append(
            _explain_one(
                predictor, explainer, layer, ask, text, target, n_steps, baseline,
                internal_batch_size,
            )
        )  # fmt: skip
        bar.update(1)
    bar.close()
    return out


def _logit_of(net):
    """f(ids, mask, weights): the explained logit per row, the raw outputs weighted as the
    task says (Captum differentiates it)."""

    def forward(input_ids, attention_mask, weights: tuple):
        # a tuple, not a tensor: Captum would repeat a tensor argument once per step
        out = net(input_ids, attention_mask)
        return out @ torch.tensor(weights, dtype=out.dtype, device=out.device)

    return forward


def _check_settings(predictor, n_steps, baseline, internal_batch_size) -> None:
    if getattr(predictor.runner, "net", None) is None:
        raise SFTConfigError(
            f"{predictor.folder}: explanations need the model's gradients, and this folder "
            f"is run by {predictor.backend} (load the PyTorch weights: backend=torch)"
        )
    if not getattr(predictor.tokenizer, "is_fast", False):
        raise SFTConfigError(
            f"{predictor.folder}: explanations need a fast tokenizer (tokenizer.json: its "
            "word ids and character offsets merge tokens into words)"
        )
    if baseline not in BASELINES:
        raise SFTConfigError(
            f"baseline: unknown baseline '{baseline}' (choices: {', '.join(BASELINES)})"
        )
    if baseline == "mask" and predictor.tokenizer.mask_token_id is None:
        raise SFTConfigError("baseline=mask: the tokenizer has no mask token (use pad or zero)")
    if int(n_steps) < 1:
        raise SFTConfigError(f"n_steps: must be >= 1, got {n_steps}")
    if internal_batch_size is not None and int(internal_batch_size) < 1:
        raise SFTConfigError(f"internal_batch_size: must be >= 1, got {internal_batch_size}")


def _checked_texts(predictor, texts) -> list[str]:
    """The texts as the model reads them (cleaned as in training); SFTDataError naming the
    input for one that is not a string or has no words."""
    if isinstance(texts, str):
        raise SFTDataError("expected a list of texts, got a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SFTDataError(f"input {i}: expected a string, got {type(text).__name__}")
    if predictor.spec.get("clean_text"):
        from sft.data.labels import clean  # lazy: pandas only for clean_text models

        texts = [clean(t) for t in texts]
    for i, text in enumerate(texts):
        if not text.strip():
            raise SFTDataError(f"input {i}: empty text (nothing to explain)")
    return texts


def _explain_one(
    predictor, explainer, layer, ask, text, target, n_steps, baseline, internal_batch_size
) -> dict:
    tokenizer = predictor.tokenizer
    encoded = tokenizer(
        text,
        truncation=True,
        max_length=predictor.max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_token_type_ids=False,
    )
    device = getattr(predictor.runner, "device", "cpu")
    ids = torch.tensor([encoded["input_ids"]], device=device)
    mask = torch.ones_like(ids)  # one text at a time: no padding
    special = torch.tensor([encoded["special_tokens_mask"]], dtype=torch.bool, device=device)
    word_ids = encoded.word_ids()
    if all(w is None for w in word_ids):
        raise SFTDataError(f"{text[:40]!r}: no word the tokenizer keeps (nothing to explain)")
    with torch.no_grad():
        raw = predictor.runner.net(ids, mask)[0].float().cpu().numpy()
    goal = ask(raw, predictor.spec, target)
    filler = tokenizer.mask_token_id if baseline == "mask" else tokenizer.pad_token_id
    reference = torch.where(special, ids, torch.full_like(ids, filler))
    args = (mask, tuple(float(w) for w in goal["weights"]))
    hook = _zero_words(layer, ~special[0], filler) if baseline == "zero" else None
    try:
        scores, delta = explainer.attribute(
            ids,
            baselines=reference,
            additional_forward_args=args,
            n_steps=int(n_steps),
            internal_batch_size=int(internal_batch_size or n_steps),
            return_convergence_delta=True,
        )
        with torch.no_grad():
            # f(x') through the same hook: the baseline the integral started from
            reference_logit = float(explainer.forward_func(reference, *args)[0])
    finally:
        if hook is not None:
            hook.remove()
    token_scores = scores.sum(dim=-1)[0].detach().double().cpu().numpy()
    return {
        "text": text,
        "target": goal["target"],
        "predicted": goal["predicted"],
        "probability": goal["probability"],
        "logit": float(raw @ np.asarray(goal["weights"], dtype=np.float32)),
        "baseline_logit": reference_logit,
        "delta": float(delta[0]),
        "truncated": _truncated(tokenizer, text, len(encoded["input_ids"]), predictor.max_length),
        "words": words(text, word_ids, encoded["offset_mapping"], token_scores),
    }


def _zero_words(layer, words: torch.Tensor, filler: int):
    """A hook that makes the embedding layer return zero vectors at the word positions when
    it embeds the baseline (recognised by its `filler` id, pad), so the integral starts at
    the zero vector there; the text itself holds no pad token (one text, unpadded)."""

    def hook(module, inputs, output):
        ids = inputs[0]
        if ids.shape[-1] != words.shape[0]:
            return output
        blank = (ids == filler) & words
        return output.masked_fill(blank.unsqueeze(-1), 0.0)

    return layer.register_forward_hook(hook)


def words(text: str, word_ids: list, offsets: list, token_scores: np.ndarray) -> list[dict]:
    """Token scores summed into words (the tokenizer's word ids; special tokens, whose word
    id is None, dropped), each with its span of `text` (first token's start to last
    token's end)."""
    merged: dict[int, dict] = {}
    for word, (start, end), score in zip(word_ids, offsets, token_scores):
        if word is None:
            continue
        entry = merged.setdefault(word, {"start": start, "end": end, "score": 0.0})
        entry["start"], entry["end"] = min(entry["start"], start), max(entry["end"], end)
        entry["score"] += float(score)
    return [
        {"word": text[e["start"] : e["end"]], "start": e["start"], "end": e["end"],
         "score": e["score"]}
        for e in merged.values()
    ]  # fmt: skip


def _truncated(tokenizer, text: str, kept: int, max_length: int) -> bool:
    """Whether the tokenizer cut the text at `max_length` tokens (words past it unread)."""
    if kept < max_length:
        return False
    return len(tokenizer(text, truncation=False)["input_ids"]) > max_length
