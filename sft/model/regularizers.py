"""Explicit penalties added to the loss (and logged as train/reg_loss)."""

from __future__ import annotations

import torch
from torch import nn

SCOPES = ("head", "backbone", "all")


class Penalty:
    """weight * sum over trainable parameters in `scope` of a per-parameter term."""

    def __init__(self, weight: float, scope: str = "all"):
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        self.weight = float(weight)
        self.scope = scope

    def parameters(self, module: nn.Module):
        """The trainable parameters the penalty covers (`module` has .backbone and .head)."""
        parts = {"head": [module.head], "backbone": [module.backbone],
                 "all": [module.backbone, module.head]}[self.scope]
        return [p for part in parts for p in part.parameters() if p.requires_grad]

    def term(self, param: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, module: nn.Module) -> torch.Tensor:
        params = self.parameters(module)
        if not params:
            return torch.zeros((), device=next(module.parameters()).device)
        return self.weight * torch.stack([self.term(p) for p in params]).sum()


class L1Penalty(Penalty):
    """weight * sum |w| (drives weights to exactly zero)."""

    def term(self, param: torch.Tensor) -> torch.Tensor:
        return param.abs().sum()


class L2Penalty(Penalty):
    """weight * sum w^2 (an explicit L2 term, unlike AdamW's decoupled weight decay)."""

    def term(self, param: torch.Tensor) -> torch.Tensor:
        return param.pow(2).sum()
