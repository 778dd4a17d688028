"""Entity-level precision, recall and F1 (micro and per entity type) and token accuracy, as a
torchmetrics Metric whose count states DDP sums across ranks.

The CoNLL definition (conlleval; seqeval's `mode="strict"`): an entity counts as found when
a predicted entity has the same type and exactly the same words as a true one; entities
are read from the tags by sft.tasks.token_classification.tags.spans. Token accuracy is over
the labelled positions (each word's first subword).
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric

from sft.tasks.token_classification.align import IGNORE
from sft.tasks.token_classification.tags import entity_types, spans


class EntityMetrics(Metric):
    """Update with predicted tag ids (or logits) and target tag ids per token; compute gives
    `precision`, `recall`, `f1` (micro over all entities), `token_accuracy`, and per type
    `precision_<TYPE>`, `recall_<TYPE>`, `f1_<TYPE>`, `support_<TYPE>` (true entities).
    A ratio with a zero denominator is 0, as seqeval's default."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, tag_names: list[str], scheme: str, **kwargs):
        super().__init__(**kwargs)
        self.tag_names = list(tag_names)
        self.scheme = scheme
        self.types = entity_types(tag_names)
        self._type_index = {kind: i for i, kind in enumerate(self.types)}
        for name in ("tp", "fp", "fn"):
            self.add_state(
                name, default=torch.zeros(len(self.types), dtype=torch.long), dist_reduce_fx="sum"
            )
        self.add_state("correct", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """`preds` [batch, tokens] tag ids or [batch, tokens, tags] logits; `target`
        [batch, tokens] tag ids, -100 where no word starts (skipped)."""
        if preds.dim() == target.dim() + 1:
            preds = preds.argmax(dim=-1)
        mask = target != IGNORE
        self.correct += (preds[mask] == target[mask]).sum()
        self.total += mask.sum()
        counts = np.zeros((3, len(self.types)), dtype=np.int64)
        for p_row, t_row, m_row in zip(
            preds.cpu().numpy(), target.cpu().numpy(), mask.cpu().numpy()
        ):
            self._count(p_row[m_row].tolist(), t_row[m_row].tolist(), counts)
        counts = torch.from_numpy(counts).to(self.tp.device)
        self.tp += counts[0]
        self.fp += counts[1]
        self.fn += counts[2]

    def _count(self, predicted: list[int], true: list[int], counts: np.ndarray) -> None:
        """Add one sentence's true positives, false positives and false negatives per type."""
        guessed = set(spans([self.tag_names[i] for i in predicted], self.scheme))
        gold = set(spans([self.tag_names[i] for i in true], self.scheme))
        for row, found in enumerate((guessed & gold, guessed - gold, gold - guessed)):
            for kind, _, _ in found:
                counts[row, self._type_index[kind]] += 1

    def compute(self) -> dict[str, torch.Tensor]:
        out = _scores(self.tp.sum(), self.fp.sum(), self.fn.sum())
        out["token_accuracy"] = _ratio(self.correct, self.total)
        for i, kind in enumerate(self.types):
            for name, value in _scores(self.tp[i], self.fp[i], self.fn[i]).items():
                out[f"{name}_{kind}"] = value
            out[f"support_{kind}"] = (self.tp[i] + self.fn[i]).float()
        return out


def _ratio(part: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    return part.float() / whole.float() if whole > 0 else torch.tensor(0.0, device=part.device)


def _scores(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, torch.Tensor]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}
