"""CTC outputs -> transcripts, and the error rates that score them.

Greedy CTC decoding (the best token per frame, repeats merged, blanks removed) reads only
the frames that carry audio: a padded clip's extra frames are whatever the model makes of
zeros, and decoding them writes letters no one said (measured in the issue: CER 0.16
instead of 0.02). The frames that count come from the input's attention mask through the
model's own length arithmetic (`_get_feat_extract_output_lengths`: wav2vec2, HuBERT;
`_get_subsampling_output_length`: Parakeet).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.text import char_error_rate
from torchmetrics.text import CharErrorRate, WordErrorRate

from sft.errors import SFTConfigError
from sft.tasks.speech_to_text.vocab import greedy_ids, ids_to_text

# The methods transformers' CTC models compute their output lengths with, by architecture.
LENGTH_METHODS = ("_get_feat_extract_output_lengths", "_get_subsampling_output_length")


def output_lengths(model, input_lengths: torch.Tensor) -> torch.Tensor:
    """The output frames [b] int64 of inputs of `input_lengths` [b] real frames (samples or
    feature frames), as `model` (a transformers CTC model) computes them; SFTConfigError for
    an architecture with neither method."""
    for name in LENGTH_METHODS:
        method = getattr(model, name, None)
        if method is not None:
            return torch.as_tensor(method(torch.as_tensor(input_lengths))).long()
    raise SFTConfigError(
        f"model.name_or_path: {type(model).__name__} does not say how many output frames an "
        f"input gives ({' or '.join(LENGTH_METHODS)})"
    )


def transcribe(model, logits, attention_mask, tokens: list[str], blank: int) -> list[str]:
    """Transcripts of a batch: `logits` [b, frames, vocab] of `model` for inputs whose real
    frames `attention_mask` [b, input frames] marks (None: every frame is real)."""
    if attention_mask is None:
        lengths = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long)
    else:
        lengths = output_lengths(model, attention_mask.sum(-1)).clamp(max=logits.shape[1])
    return [ids_to_text(ids, tokens) for ids in greedy_ids(logits.cpu(), lengths.cpu(), blank)]


class CTCGraph(torch.nn.Module):
    """A CTC model as one function of (features, attention_mask) -> (logits [b, frames,
    vocab] float32, output lengths [b]): what prediction runs and what ONNX export traces
    (the exported graph then knows which frames are real without torch)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.key = model.main_input_name  # input_features (Parakeet) or input_values

    def forward(self, values: torch.Tensor, attention_mask: torch.Tensor):
        logits = self.model(**{self.key: values}, attention_mask=attention_mask).logits
        lengths = output_lengths(self.model, attention_mask.sum(-1))
        return logits.float(), lengths.clamp(max=logits.shape[1])


class SpeechErrorRates(Metric):
    """Word and character error rates over a split (torchmetrics WordErrorRate and
    CharErrorRate: edit distance summed over the split / reference length summed).
    `update(preds, targets)`: lists of transcripts. `compute()` -> {"wer", "cer"}."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.wer = WordErrorRate()
        self.cer = CharErrorRate()

    def update(self, preds: list[str], targets: list[str]) -> None:
        self.wer.update(list(preds), list(targets))
        self.cer.update(list(preds), list(targets))

    def compute(self) -> dict[str, torch.Tensor]:
        return {"wer": self.wer.compute(), "cer": self.cer.compute()}

    def reset(self) -> None:
        super().reset()
        self.wer.reset()
        self.cer.reset()


def utterance_rows(preds: list[str], targets: list[str], paths: list[str]) -> list[dict]:
    """One table row per utterance: path, reference, hypothesis and its CER (the worst-N
    table of the test split)."""
    return [
        {
            "path": path,
            "reference": target,
            "hypothesis": pred,
            "cer": float(char_error_rate([pred], [target])),
        }
        for pred, target, path in zip(preds, targets, paths)
    ]
