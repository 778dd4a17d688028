"""The layer structure of a transformers backbone: which parameter sits at which depth.

Layer-wise strategies (LLRD, freezing the bottom, gradual unfreezing, re-initializing the top)
need to know, for every parameter, how far from the input it is. Depth 0 is everything before
the first transformer block (embeddings), depth i+1 is block i, and depth L+1 is everything
after the last block (pooler, final norm). The block stack is the `nn.ModuleList` with
`config.num_hidden_layers` entries (BERT's `encoder.layer`, GPT-2's `h`, ViT's `encoder.layer`);
"before" and "after" follow the order in which the model registers its parameters, which is
the order of the forward pass in transformers' models.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from sft.errors import SFTConfigError


@dataclass
class LayerMap:
    """Each parameter's depth, and the block modules in input-to-output order."""

    depths: dict[str, int]  # parameter name -> depth (0 .. num_layers + 1)
    blocks: list[nn.Module]

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def group_name(self, depth: int) -> str:
        """`embeddings`, `layer_<i>` (0-based block index) or `top` (pooler, final norm)."""
        if depth == 0:
            return "embeddings"
        return f"layer_{depth - 1}" if depth <= self.num_layers else "top"


def layer_stack(encoder: nn.Module, who: str) -> nn.ModuleList:
    """The encoder's stack of transformer blocks; SFTConfigError naming `who` if there is none."""
    config = getattr(encoder, "config", None)
    expected = getattr(config, "num_hidden_layers", None)
    lists = [m for m in encoder.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if expected:
        lists = [m for m in lists if len(m) == expected]
    if not lists:
        raise SFTConfigError(
            f"{who}: cannot find the stack of transformer layers in "
            f"{type(encoder).__name__}; use finetune=full or finetune=linear_probe"
        )

    def size(stack: nn.ModuleList) -> int:
        return sum(p.numel() for p in stack.parameters())

    return max(lists, key=size)  # the blocks hold nearly all the weights; other lists are small


def layer_map(encoder: nn.Module, who: str) -> LayerMap:
    """Depth of every parameter of `encoder` (see the module docstring)."""
    blocks = list(layer_stack(encoder, who))
    block_of = {id(p): i for i, block in enumerate(blocks) for p in block.parameters()}
    depths, seen_block = {}, False
    for name, param in encoder.named_parameters():
        if id(param) in block_of:
            depths[name] = block_of[id(param)] + 1
            seen_block = True
        else:
            depths[name] = len(blocks) + 1 if seen_block else 0
    return LayerMap(depths, blocks)
