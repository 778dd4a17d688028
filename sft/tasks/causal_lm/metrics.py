"""The evaluation metrics of causal-LM SFT, over a split (validation each epoch, or test):

- `perplexity`: exp of the token-weighted mean cross-entropy over the trained tokens (the
  logged `<stage>/loss` is that mean: every trained token weighs the same, whatever its row);
- `token_accuracy`: the share of trained tokens whose argmax prediction is the token;
- `exact_match`: the share of generated answers equal to their reference after SQuAD's
  `normalize_answer` (lower case, ASCII punctuation removed, the articles a/an/the dropped,
  whitespace collapsed; Rajpurkar et al. 2016, the SQuAD v1.1 evaluation script);
- `rougeL`: the mean ROUGE-L F-measure of generated answers against their references
  (torchmetrics' rouge_score with rouge_keys=("rougeL",), texts normalized as above: its
  default key set includes rougeLsum, which needs nltk's sentence splitter, and no stemmer,
  which would need nltk too).

Generation scores cover the rows that were generated (`data.generation.rows` per split); with
none generated they are 0. The sums are torchmetrics states, summed across DDP ranks.
"""

from __future__ import annotations

import math
import re
import string

import torch
from torchmetrics import Metric

from sft.tasks.causal_lm.render import IGNORE

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalize_answer: lower case, no ASCII punctuation, no articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> bool:
    """Whether the two are equal after normalize_answer."""
    return normalize_answer(prediction) == normalize_answer(reference)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of `prediction` against `reference`, both normalize_answer'd."""
    from torchmetrics.functional.text.rouge import rouge_score  # lazy: only when generating

    scores = rouge_score(prediction, reference, rouge_keys=("rougeL",), normalizer=normalize_answer)
    return float(scores["rougeL_fmeasure"])


def token_sums(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(sum of cross-entropies, correct argmax count, trained token count) of a batch: the
    logits [b, t, vocab] at each position predict the label of the next (causal shift),
    -100 labels skipped. Computed in float32 (bf16 logits lose the loss's small terms)."""
    shifted = logits[:, :-1].float()
    targets = labels[:, 1:]
    keep = targets != IGNORE
    nll = torch.nn.functional.cross_entropy(
        shifted.reshape(-1, shifted.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    correct = ((shifted.argmax(-1) == targets) & keep).sum()
    return nll, correct, keep.sum()


class CausalLMMetrics(Metric):
    """Token sums (`update`) and generation scores (`update_generations`) of a split;
    `compute()` -> {perplexity, token_accuracy, exact_match, rougeL} (0-d tensors)."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        for name in ("nll", "correct", "tokens", "exact", "rouge", "generated"):
            zero = torch.tensor(0.0, dtype=torch.float64)
            self.add_state(name, default=zero, dist_reduce_fx="sum")

    def update(self, nll, correct, count) -> None:
        """Add a batch's token sums (token_sums: cross-entropy, correct argmax, tokens)."""
        self.nll += float(nll)
        self.correct += float(correct)
        self.tokens += float(count)

    def update_generations(self, predictions: list[str], references: list[str]) -> list[bool]:
        """Score generated answers against their references; returns each one's exact match."""
        exact = [exact_match(p, r) for p, r in zip(predictions, references)]
        self.exact += sum(exact)
        self.rouge += sum(rouge_l(p, r) for p, r in zip(predictions, references))
        self.generated += len(exact)
        return exact

    def compute(self) -> dict[str, torch.Tensor]:
        tokens, generated = float(self.tokens), float(self.generated)
        mean = float(self.nll) / tokens if tokens else float("nan")
        values = {
            # exp of a mean over 1e2+ nats would overflow: inf says "no better than chance".
            "perplexity": math.exp(mean) if mean < 700 else float("inf"),
            "token_accuracy": float(self.correct) / tokens if tokens else 0.0,
            "exact_match": float(self.exact) / generated if generated else 0.0,
            "rougeL": float(self.rouge) / generated if generated else 0.0,
        }
        return {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}
