"""LoRA (low-rank adapters, via peft) as a fine-tuning strategy, and merging for saving."""

from __future__ import annotations

import copy
import warnings

from torch import nn

from sft.errors import SFTConfigError, first_line
from sft.model.finetune import LayerwiseFineTune


class LoRA(LayerwiseFineTune):
    """Low-rank adapters on `target_modules` of a frozen backbone; the head trains fully.

    `target_modules=None` takes peft's default for the architecture (BERT: query, value;
    GPT-2: c_attn). Adapters and head train at `lr_mult` times the optimizer's LR: LoRA
    wants a larger LR than full fine-tuning. `decay` < 1 adds layer-wise decay over the
    adapters.
    """

    def __init__(
        self,
        r: int = 8,
        alpha: float = 16,
        dropout: float = 0.1,
        target_modules: list[str] | None = None,
        lr_mult: float = 10.0,
        decay: float = 1.0,
        head_lr_mult: float = 1.0,
    ):
        super().__init__(decay, head_lr_mult)
        self.r = int(r)
        self.alpha = float(alpha)
        self.dropout = float(dropout)
        self.target_modules = None if target_modules is None else [str(m) for m in target_modules]
        self.lr_mult = float(lr_mult)
        self.resolved_targets: list[str] = []

    def prepare(self, module) -> None:
        """Wrap the backbone's encoder in peft's LoRA model (every base weight frozen)."""
        from peft import LoraConfig, get_peft_model  # lazy: peft only for finetune=lora

        encoder = module.backbone.encoder
        config = LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            bias="none",
        )
        try:
            with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
                warnings.simplefilter("ignore", FutureWarning)
                module.backbone.encoder = get_peft_model(encoder, config)
        except ValueError as err:  # unknown architecture, or no module matched
            model_type = getattr(encoder.config, "model_type", type(encoder).__name__)
            raise SFTConfigError(
                f"finetune.target_modules={self.target_modules}: cannot place "
                f"LoRA adapters in this {model_type} model "
                f"({first_line(err)})"
            ) from None
        # What peft resolved (its per-architecture default when target_modules is null).
        self.resolved_targets = sorted(
            module.backbone.encoder.peft_config["default"].target_modules
        )
        super().prepare(module)  # layer depths of the adapters, for `decay`

    def param_groups(self, module, lr: float, weight_decay: float) -> list[dict]:
        return super().param_groups(module, lr * self.lr_mult, weight_decay)

    def describe(self) -> dict:
        """What the saved model records about the adapters it merged."""
        return {
            "r": self.r,
            "alpha": self.alpha,
            "target_modules": self.resolved_targets,
            "merged": True,
        }


def plain_encoder(encoder: nn.Module) -> nn.Module:
    """The encoder as a plain transformers model: LoRA adapters merged into a copy's weights.

    The copy leaves the training module untouched (adapters still separate).
    """
    if hasattr(encoder, "merge_and_unload"):  # a peft model
        return copy.deepcopy(encoder).merge_and_unload()
    return encoder
