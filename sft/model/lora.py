"""LoRA (low-rank adapters, via peft) as a fine-tuning strategy, and saving its model: merged
into the weights (a plain transformers folder) or kept as peft's adapter folder."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

from torch import nn

from sft.errors import SFTConfigError, first_line
from sft.model.finetune import LayerwiseFineTune


class LoRA(LayerwiseFineTune):
    """Low-rank adapters on `target_modules` of a frozen backbone; the head trains fully.

    `target_modules=None` takes peft's default for the architecture (BERT: query, value;
    GPT-2: c_attn). Adapters and head train at `lr_mult` times the optimizer's LR: LoRA
    wants a larger LR than full fine-tuning. `decay` < 1 adds layer-wise decay over the
    adapters. `save`: "merged" (the saved folder holds the adapters merged into the weights)
    or "adapter" (it holds peft's adapter and names the base folder it goes on).
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
        save: str = "merged",
    ):
        super().__init__(decay, head_lr_mult)
        if save not in SAVES:
            raise SFTConfigError(f"finetune.save={save}: must be one of {', '.join(SAVES)}")
        self.save = str(save)
        self.base: str | None = None
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
        # The folder the base weights came from, which an adapter folder names (absolute:
        # the adapter is read from anywhere).
        base = str(getattr(encoder, "name_or_path", "") or "")
        self.base = str(Path(base).resolve()) if base and Path(base).exists() else base or None
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
        """What the saved model records about its adapters: merged, or kept (then `base`,
        the base model's folder or hub id they go on)."""
        kept = {"base": self.base} if self.save == "adapter" else {}
        return {
            "r": self.r,
            "alpha": self.alpha,
            "target_modules": self.resolved_targets,
            "merged": self.save == "merged",
            **kept,
        }


SAVES = ("merged", "adapter")


def keeps_adapter(finetune) -> bool:
    """Whether `finetune` (a strategy) saves its model as a peft adapter folder."""
    return getattr(finetune, "save", "merged") == "adapter"


def save_adapter(encoder: nn.Module, out_dir: Path) -> None:
    """Write peft's adapter folder for the peft model `encoder` (adapter_config.json naming
    the base, adapter_model.safetensors), and the base model's generation settings
    (generation_config.json: what a generating model stops on) when it has them."""
    encoder.save_pretrained(str(out_dir))
    inner = encoder.get_base_model()
    if getattr(inner, "generation_config", None) is not None and inner.can_generate():
        inner.generation_config.save_pretrained(str(out_dir))


def load_adapter(base: nn.Module, folder: Path) -> nn.Module:
    """`base` with the adapter saved in `folder` (save_adapter) merged into its weights: a
    plain transformers model, as a merged save gives. SFTConfigError (one line) when the
    adapter does not fit the base."""
    from peft import PeftModel  # lazy: peft only for adapter folders

    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise SFTConfigError(
            f"{folder}: the LoRA adapter does not load onto its base ({first_line(err)})"
        ) from None


def plain_encoder(encoder: nn.Module) -> nn.Module:
    """The encoder as a plain transformers model: LoRA adapters merged into a copy's weights.

    The copy leaves the training module untouched (adapters still separate).
    """
    if hasattr(encoder, "merge_and_unload"):  # a peft model
        return copy.deepcopy(encoder).merge_and_unload()
    return encoder
