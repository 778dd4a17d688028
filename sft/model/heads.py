"""Task heads: pooled embedding -> logits (or a regression value)."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class LinearHead(nn.Sequential):
    """Dropout, then one linear layer."""

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.1):
        super().__init__(nn.Dropout(dropout), nn.Linear(in_features, out_features))


class MLPHead(nn.Sequential):
    """Hidden layers (linear, activation, dropout), then a linear output layer."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_sizes=(256,),
        activation: str = "gelu",
        dropout: float = 0.1,
    ):
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, int(size)), ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = int(size)
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)
