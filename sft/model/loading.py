"""Rebuild the network of a saved model folder (sft/model/saving.py) without Hydra or MLflow:
backbone and head from the folder's transformers-native model.safetensors (sft.model.hf_native),
or, in older folders, backbone from `save_pretrained` files and the head from
head.safetensors; sft's pooling.
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
from sft.model.backbone import frame_mask, hidden_size, model_inputs, pool_output
from sft.model.hf_native import is_native, load_native
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
        # audio's sample mask -> the encoder's frame mask, as in training (Backbone.forward)
        mask = frame_mask(self.encoder, out, attention_mask)
        return self.head(pool_output(out, mask, self.pooling))


def load_network(folder: Path, spec: dict, trust_remote_code: bool = False) -> nn.Module:
    """The network saved in `folder`, in eval mode, on the CPU, in fp32: an SFTNet, or the
    transformers task model itself when the spec names its `auto_class` (detection,
    segmentation: its forward returns the model's output, not one tensor)."""
    hf_logging.disable_progress_bar()
    if spec.get("auto_class"):
        from sft.model.task_model import auto_class  # here: only task-model folders need it

        model = pretrained(auto_class(spec["auto_class"]), folder, spec, trust_remote_code)
        return model.eval()
    if is_native(folder):  # backbone + head as one transformers model (sft.model.hf_native)
        encoder, head, _ = load_native(
            folder,
            lambda width, outputs: build_head(spec["head"], width, outputs, trust_remote_code),
        )
        return SFTNet(encoder, spec.get("pooling", "mean"), head).eval()
    # the older layout: backbone save_pretrained + head.safetensors
    encoder = pretrained(AutoModel, folder, spec, trust_remote_code, "the backbone")
    head = build_head(
        spec["head"], hidden_size(encoder.config), int(spec["num_outputs"]), trust_remote_code
    )
    head_path = Path(folder) / HEAD_FILE
    if not head_path.is_file():
        raise SFTConfigError(f"{folder}: no {HEAD_FILE}")
    head.load_state_dict(load_file(str(head_path)))  # safetensors: no pickle
    return SFTNet(encoder, spec.get("pooling", "mean"), head).eval()


def pretrained(
    cls, folder: Path, spec: dict, trust_remote_code: bool = False, what: str = "the model"
) -> nn.Module:
    """`cls.from_pretrained` of the folder's weights in fp32; a folder that keeps a LoRA
    adapter (spec `lora.merged` false): its base, named by `lora.base`, with the adapter
    merged in (sft.model.lora.load_adapter). SFTConfigError naming the folder otherwise."""
    lora = spec.get("lora") or {}
    adapter = lora.get("merged") is False
    source = str(lora.get("base") or "") if adapter else str(folder)
    try:
        model = cls.from_pretrained(
            source, dtype=torch.float32, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as err:
        where = f"the LoRA base '{source}'" if adapter else what
        raise SFTConfigError(f"{folder}: cannot load {where} ({first_line(err)})") from None
    if not adapter:
        return model
    from sft.model.lora import load_adapter  # here: peft only for adapter folders

    model = load_adapter(model, Path(folder))
    if (Path(folder) / "generation_config.json").is_file():  # the tuned model's, not the base's
        from transformers import GenerationConfig  # here: only generating models save one

        model.generation_config = GenerationConfig.from_pretrained(str(folder))
    return model


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
