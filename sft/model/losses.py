"""Losses with one signature: loss(outputs of the head, targets of the batch)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CrossEntropyLoss(nn.Module):
    """Cross-entropy over class logits, with optional label smoothing and class weights."""

    def __init__(self, label_smoothing: float = 0.0, class_weights=None):
        super().__init__()
        self.label_smoothing = label_smoothing
        weights = None if class_weights is None else torch.as_tensor(list(class_weights),
                                                                     dtype=torch.float32)
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, weight=self.class_weights,
                               label_smoothing=self.label_smoothing)


class BCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy on one logit per example; target 1 is the second label."""

    def __init__(self, pos_weight: float | None = None):
        super().__init__()
        weight = None if pos_weight is None else torch.tensor([float(pos_weight)])
        self.register_buffer("pos_weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.float(),
                                                  pos_weight=self.pos_weight)


class MSELoss(nn.Module):
    """Mean squared error between the head's single output and a numeric target."""

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.squeeze(-1), targets.float())


def balanced_class_weights(counts) -> list[float]:
    """n_samples / (n_classes * count) per class, as scikit-learn's 'balanced'."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    return (counts.sum() / (len(counts) * counts.clamp(min=1))).tolist()
