"""Rebuild the network of a saved model folder (sft/model/saving.py) without Hydra or MLflow:
backbone from `save_pretrained` files, pooling, and the head from its safetensors weights.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel
from transformers.utils import logging as hf_logging

from sft.errors import SFTConfigError, first_line
from sft.model.backbone import hidden_size, model_inputs, pool_output
from sft.model.saving import HEAD_FILE

# Heads a model folder may name without trust_remote_code: the ones sft ships.
TRUSTED_HEADS = "sft.model.heads."


class SFTNet(nn.Module):
    """Backbone + pooling + head: (input_ids, attention_mask) -> the head's raw outputs."""

    def __init__(self, encoder: nn.Module, pooling: str, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.head = head

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **features,
    ) -> torch.Tensor:
        out = self.encoder(**model_inputs(input_ids, attention_mask, features))
        return self.head(pool_output(out, attention_mask, self.pooling))


def load_network(folder: Path, spec: dict, trust_remote_code: bool = False) -> nn.Module:
    """The network saved in `folder`, in eval mode, on the CPU, in fp32: an SFTNet, or the
    transformers task model itself when the spec names its `auto_class` (detection,
    segmentation: its forward returns the model's output, not one tensor)."""
    hf_logging.disable_progress_bar()
    if spec.get("auto_class"):
        from sft.model.task_model import auto_class  # here: only task-model folders need it

        try:
            model = auto_class(spec["auto_class"]).from_pretrained(
                str(folder), dtype=torch.float32, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as err:
            raise SFTConfigError(f"{folder}: cannot load the model ({first_line(err)})") from None
        return model.eval()
    try:
        encoder = AutoModel.from_pretrained(
            str(folder), dtype=torch.float32, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise SFTConfigError(f"{folder}: cannot load the backbone ({first_line(err)})") from None
    head = build_head(
        spec["head"], hidden_size(encoder.config), int(spec["num_outputs"]), trust_remote_code
    )
    head_path = Path(folder) / HEAD_FILE
    if not head_path.is_file():
        raise SFTConfigError(f"{folder}: no {HEAD_FILE}")
    head.load_state_dict(load_file(str(head_path)))  # safetensors: no pickle
    return SFTNet(encoder, spec.get("pooling", "mean"), head).eval()


def build_head(
    config: dict, in_features: int, out_features: int, trust_remote_code: bool = False
) -> nn.Module:
    """Instantiate a head from its saved config (`_target_` + keyword arguments)."""
    target = str(config.get("_target_", ""))
    if not target.startswith(TRUSTED_HEADS) and not trust_remote_code:
        raise SFTConfigError(
            f"head '{target}' is not one of sft's heads; load with "
            f"trust_remote_code=True if you trust the model folder"
        )
    module_name, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise SFTConfigError(f"head '{target}' cannot be imported") from None
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    return cls(in_features=in_features, out_features=out_features, **kwargs)
