"""Losses with one signature: loss(outputs of the head, targets of the batch).

Targets are class ids [batch] (multiclass, binary), multi-hot rows [batch, labels]
(multilabel) or numbers [batch] (regression).

Each loss declares beside its class the tasks it can train (`tasks`) and the task an
`auto` task becomes with it (`implied_task`, None: the labels decide); sft.config.schema
reads both to refuse `loss=mse` with a multiclass task. A new loss is its class here (or
anywhere importable) plus one YAML in conf/loss/.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _weights(class_weights) -> torch.Tensor | None:
    if class_weights is None:
        return None
    return torch.as_tensor(list(class_weights), dtype=torch.float32)


class CrossEntropyLoss(nn.Module):
    """Cross-entropy over class logits, with optional label smoothing and class weights."""

    tasks = ("multiclass",)
    implied_task = None

    def __init__(self, label_smoothing: float = 0.0, class_weights=None):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", _weights(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits, targets, weight=self.class_weights, label_smoothing=self.label_smoothing
        )


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by (1 - p_true)^gamma, so examples
    the model already gets right count less; gamma=0 is plain (weighted) cross-entropy.

    Softmax over classes for multiclass logits; a sigmoid per logit for binary (one logit)
    and multilabel (multi-hot targets). `class_weights` (multiclass, binary) weigh each
    example by its true class, normalized like torch's weighted cross-entropy.
    """

    tasks = ("multiclass", "binary", "multilabel")
    implied_task = None

    def __init__(self, gamma: float = 2.0, class_weights=None):
        super().__init__()
        self.gamma = float(gamma)
        self.register_buffer("class_weights", _weights(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() == logits.dim() or logits.shape[-1] == 1:
            return self._sigmoid(logits, targets)
        log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
        losses = -(1 - log_p.exp()).pow(self.gamma) * log_p
        return self._reduce(losses, targets)

    def _sigmoid(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() != logits.dim():  # binary: one logit per example
            logits = logits.squeeze(-1)
        targets = targets.to(logits.dtype)
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p = torch.sigmoid(logits)
        p_true = p * targets + (1 - p) * (1 - targets)
        losses = ce * (1 - p_true).pow(self.gamma)
        if losses.dim() > 1:  # multilabel: class weights do not apply (refused at config time)
            return losses.mean()
        return self._reduce(losses, targets.long())

    def _reduce(self, losses: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.class_weights is None:
            return losses.mean()
        weights = self.class_weights[targets]
        return (weights * losses).sum() / weights.sum()


class BCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy on logits: one logit per example (binary; target 1 is the second
    label) or one per label (multilabel). `pos_weight` weighs positives: one number, or
    one per label."""

    tasks = ("binary", "multilabel")
    implied_task = "binary"

    def __init__(self, pos_weight: float | list[float] | None = None):
        super().__init__()
        weight = None
        if pos_weight is not None:
            values = list(pos_weight) if hasattr(pos_weight, "__iter__") else [pos_weight]
            weight = torch.tensor([float(v) for v in values])
        self.register_buffer("pos_weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() != logits.dim():  # binary: one logit per example
            logits = logits.squeeze(-1)
        return F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), pos_weight=self.pos_weight
        )


class MSELoss(nn.Module):
    """Mean squared error between the head's single output and a numeric target."""

    tasks = ("regression",)
    implied_task = "regression"

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.squeeze(-1), targets.float())


class HuberLoss(nn.Module):
    """Huber loss: squared below `delta`, linear above (robust to outlying targets)."""

    tasks = ("regression",)
    implied_task = "regression"

    def __init__(self, delta: float = 1.0):
        super().__init__()
        self.delta = float(delta)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(outputs.squeeze(-1), targets.float(), delta=self.delta)


def balanced_class_weights(counts) -> list[float]:
    """n_samples / (n_classes * count) per class, as scikit-learn's 'balanced'."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    return (counts.sum() / (len(counts) * counts.clamp(min=1))).tolist()
