"""Explicit penalties added to the loss, logged as train/reg_loss and per term as train/reg/<term>.

Every penalty covers the trainable parameters of its `scope` (head, backbone or all): frozen
parameters get no gradient from a penalty either.
"""

from __future__ import annotations

import torch
from torch import nn

SCOPES = ("head", "backbone", "all")


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    return scope


def trainable(part: nn.Module):
    """(name, parameter) for the parameters of `part` that currently train."""
    return [(n, p) for n, p in part.named_parameters() if p.requires_grad]


def _zero(module: nn.Module) -> torch.Tensor:
    return torch.zeros((), device=next(module.parameters()).device)


class Penalty:
    """weight * sum over trainable parameters in `scope` of a per-parameter term."""

    name = "penalty"

    def __init__(self, weight: float, scope: str = "all"):
        self.weight = float(weight)
        self.scope = _check_scope(scope)

    def parameters(self, module: nn.Module):
        """The trainable parameters the penalty covers (`module` has .backbone and .head)."""
        parts = {
            "head": [module.head],
            "backbone": [module.backbone],
            "all": [module.backbone, module.head],
        }[self.scope]
        return [p for part in parts for _, p in trainable(part)]

    def term(self, param: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def terms(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """The penalty's parts by name (one here), each already weighted."""
        params = self.parameters(module)
        if not params:
            return {self.name: _zero(module)}
        return {self.name: self.weight * torch.stack([self.term(p) for p in params]).sum()}

    def __call__(self, module: nn.Module) -> torch.Tensor:
        return sum(self.terms(module).values())


class L1Penalty(Penalty):
    """weight * sum |w| (drives weights to exactly zero)."""

    name = "l1"

    def term(self, param: torch.Tensor) -> torch.Tensor:
        return param.abs().sum()


class L2Penalty(Penalty):
    """weight * sum w^2 (an explicit L2 term, unlike AdamW's decoupled weight decay)."""

    name = "l2"

    def term(self, param: torch.Tensor) -> torch.Tensor:
        return param.pow(2).sum()


class ElasticNetPenalty:
    """l1_weight * sum |w| + l2_weight * sum w^2 over the trainable parameters in `scope`."""

    def __init__(self, l1_weight: float, l2_weight: float, scope: str = "all"):
        self.l1 = L1Penalty(l1_weight, scope)
        self.l2 = L2Penalty(l2_weight, scope)
        self.scope = self.l1.scope

    def terms(self, module: nn.Module) -> dict[str, torch.Tensor]:
        return {**self.l1.terms(module), **self.l2.terms(module)}

    def __call__(self, module: nn.Module) -> torch.Tensor:
        return sum(self.terms(module).values())


class L2SP:
    """L2-SP (Li et al., 2018): alpha/2 * ||w - w0||^2 over the backbone, pulling it towards
    its starting point w0, plus beta/2 * ||w||^2 over the head, which has no starting point.

    w0 is taken by `bind(module)` when the module is built: the pretrained weights (after a
    strategy's re-initialization or LoRA wrapping, which define where training starts).
    `scope` keeps one term: backbone (the L2-SP term), head (the L2 term), or all (both).
    """

    def __init__(self, alpha: float = 0.01, beta: float = 0.01, scope: str = "all"):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.scope = _check_scope(scope)
        self.start: dict[str, torch.Tensor] | None = None

    def bind(self, module: nn.Module) -> None:
        """Remember the backbone's current weights as w0."""
        self.start = {n: p.detach().clone() for n, p in module.backbone.named_parameters()}

    def terms(self, module: nn.Module) -> dict[str, torch.Tensor]:
        if self.start is None:
            raise RuntimeError("L2SP.bind(module) must run before the penalty is computed")
        out = {}
        if self.scope in ("backbone", "all"):
            parts = [(p - self._start(n, p)).pow(2).sum() for n, p in trainable(module.backbone)]
            out["l2sp"] = self.alpha / 2 * torch.stack(parts).sum() if parts else _zero(module)
        if self.scope in ("head", "all"):
            parts = [p.pow(2).sum() for _, p in trainable(module.head)]
            out["l2_head"] = self.beta / 2 * torch.stack(parts).sum() if parts else _zero(module)
        return out

    def _start(self, name: str, param: torch.Tensor) -> torch.Tensor:
        ref = self.start[name]
        if ref.device != param.device:  # the module moved (to a GPU): move w0 once, not per step
            ref = self.start[name] = ref.to(param.device)
        return ref

    def __call__(self, module: nn.Module) -> torch.Tensor:
        return sum(self.terms(module).values())
