"""Fine-tuning strategies: which parameters train, from when, and at which learning rate.

A strategy is used in three places:
- `prepare(module)`, once, when the SFTModule is built: freeze, wrap in LoRA, re-initialize;
- `param_groups(module, lr, weight_decay)`: the optimizer's groups (`configure_optimizers`);
- `callbacks()`: the Lightning callbacks the Trainer needs (unfreezing on schedule, eval mode).

Two axes compose. The learning rate per layer (`decay`, `head_lr_mult`) decides the groups;
freezing decides `requires_grad`. Groups are built once, up front, holding every parameter
the strategy will ever train, frozen or not, each at its layer's learning rate. Unfreezing
only flips `requires_grad`: a frozen parameter gets no gradient, torch optimizers skip
parameters whose gradient is None (no step, no weight decay, no momentum), so it stays
bit-identical until it thaws and then trains at the rate its group was built with, under the
same LR schedule as the rest. Adding groups at unfreeze time instead (Lightning's
`unfreeze_and_add_param_group`) gives them one LR for all layers and no schedule: the trap.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BaseFinetuning, Callback

from sft.errors import SFTConfigError
from sft.model.layers import LayerMap, layer_map
from sft.model.optim import decay_groups, is_no_decay, owned_parameters


class FullFineTune:
    """Every parameter trains; the head at `head_lr_mult` times the base learning rate."""

    def __init__(self, head_lr_mult: float = 1.0):
        self.head_lr_mult = float(head_lr_mult)

    def prepare(self, module) -> None:
        """Change the module before its optimizer exists (nothing to do for full fine-tuning)."""

    def param_groups(self, module, lr: float, weight_decay: float) -> list[dict]:
        """Optimizer groups for `module` (with .backbone and .head): decay / no decay, per part."""
        return decay_groups(module.backbone, weight_decay, lr, name="backbone") + decay_groups(
            module.head, weight_decay, lr * self.head_lr_mult, name="head"
        )

    def callbacks(self) -> list[Callback]:
        """Callbacks the Trainer needs for this strategy."""
        return []


def feature_part(module):
    """The pretrained feature extractor a linear probe freezes: sft's backbone, or inside a
    whole task model (sft.model.task_model: a detector, a segmenter) its transformers
    AutoBackbone, whose decoder and heads then train."""
    extractor = getattr(module.backbone, "feature_extractor", None)
    return extractor() if extractor is not None else module.backbone


class LinearProbe(FullFineTune):
    """The backbone is frozen and kept in eval mode (no dropout); only the head trains. For
    a whole task model, its AutoBackbone is frozen and the rest (a detector's transformer and
    box head, a segmenter's decoder) trains."""

    def prepare(self, module) -> None:
        """Freeze every backbone parameter and switch the backbone to eval mode."""
        part = feature_part(module)
        part.requires_grad_(False)
        part.eval()

    def callbacks(self) -> list[Callback]:
        return [BackboneEvalMode()]


class BackboneEvalMode(Callback):
    """Keeps the frozen backbone in eval mode at every training epoch (dropout off)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module) -> None:
        feature_part(pl_module).eval()

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        feature_part(pl_module).eval()  # a run resumed mid-epoch skips that epoch's start


class LayerwiseFineTune(FullFineTune):
    """Base of the strategies that know the backbone's layers; LR decays by `decay` per layer.

    The top layer (and what sits above it: pooler, final norm) gets the base LR, each layer
    below `decay` times its upper neighbour, the embeddings the lowest; decay=1 is one LR.
    """

    def __init__(self, decay: float = 1.0, head_lr_mult: float = 1.0):
        super().__init__(head_lr_mult)
        self.decay = float(decay)
        self.layers: LayerMap | None = None
        self.trains: set[str] = set()  # encoder parameters this strategy ever trains

    def prepare(self, module) -> None:
        encoder = module.backbone.encoder
        self.layers = layer_map(encoder, "finetune")
        # The backbone freezes what it does not use (an unused pooler): never train that.
        self.trains = {n for n, p in encoder.named_parameters() if p.requires_grad}

    def layer_lr(self, lr: float, depth: int) -> float:
        """The learning rate of the parameters at `depth` (0: embeddings)."""
        top = self.layers.num_layers
        return lr * self.decay ** (top - min(depth, top))

    def param_groups(self, module, lr: float, weight_decay: float) -> list[dict]:
        """One group per depth and decay rule, frozen members included (they may thaw later)."""
        buckets: dict[tuple[int, bool], list[torch.nn.Parameter]] = {}
        for name, owner, local, param in owned_parameters(module.backbone.encoder):
            if name in self.trains:
                key = (self.layers.depths[name], is_no_decay(owner, local))
                buckets.setdefault(key, []).append(param)
        groups = [
            {
                "params": params,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr": self.layer_lr(lr, depth),
                "name": f"backbone.{self.layers.group_name(depth)}"
                + ("_no_decay" if no_decay else ""),
            }
            for (depth, no_decay), params in sorted(buckets.items())
        ]
        return groups + decay_groups(module.head, weight_decay, lr * self.head_lr_mult, "head")

    def _check_k(self, k: int) -> int:
        if not 0 <= k <= self.layers.num_layers:
            raise SFTConfigError(f"finetune.k={k}: the model has {self.layers.num_layers} layers")
        return k

    def _set_trainable(self, module, depth_trains) -> None:
        for name, param in module.backbone.encoder.named_parameters():
            if name in self.trains:
                param.requires_grad_(bool(depth_trains(self.layers.depths[name])))


class LayerwiseLRDecay(LayerwiseFineTune):
    """Layer-wise learning-rate decay (LLRD): every parameter trains, lower layers slower."""

    def __init__(self, decay: float = 0.9, head_lr_mult: float = 1.0):
        super().__init__(decay, head_lr_mult)


class FreezeBottom(LayerwiseFineTune):
    """The embeddings and the first `k` layers are frozen for the whole run."""

    def __init__(self, k: int = 2, decay: float = 1.0, head_lr_mult: float = 1.0):
        super().__init__(decay, head_lr_mult)
        self.k = int(k)

    def prepare(self, module) -> None:
        super().prepare(module)
        self._check_k(self.k)
        self._set_trainable(module, lambda depth: depth > self.k)
        # Never trained: keep them out of the optimizer (and out of the LR monitor).
        self.trains = {n for n in self.trains if self.layers.depths[n] > self.k}


class GradualUnfreeze(LayerwiseFineTune):
    """ULMFiT's gradual unfreezing: the head alone first, then one more layer from the top
    every `every_n_epochs` epochs (the top layer thaws with the pooler / final norm, the
    embeddings last)."""

    def __init__(self, every_n_epochs: int = 1, decay: float = 1.0, head_lr_mult: float = 1.0):
        super().__init__(decay, head_lr_mult)
        self.every_n_epochs = int(every_n_epochs)

    def prepare(self, module) -> None:
        super().prepare(module)
        self.thaw(module, epoch=0)

    def lowest_trained_depth(self, epoch: int) -> int:
        """Depths at or above this train in `epoch` (num_layers + 2: only the head trains)."""
        stage = epoch // self.every_n_epochs
        top = self.layers.num_layers
        return top + 2 if stage == 0 else max(top + 1 - stage, 0)

    def thaw(self, module, epoch: int) -> None:
        """Set `requires_grad` as the schedule has it at `epoch` (idempotent: safe on resume)."""
        lowest = self.lowest_trained_depth(epoch)
        self._set_trainable(module, lambda depth: depth >= lowest)

    def callbacks(self) -> list[Callback]:
        return [GradualUnfreezing(self)]


class GradualUnfreezing(BaseFinetuning):
    """Lightning's fine-tuning callback driving a GradualUnfreeze strategy.

    It never adds param groups: the strategy built them all up front (see module docstring).
    """

    def __init__(self, strategy: GradualUnfreeze):
        super().__init__()
        self.strategy = strategy

    def freeze_before_training(self, pl_module) -> None:
        self.strategy.thaw(pl_module, epoch=0)

    def finetune_function(self, pl_module, epoch: int, optimizer) -> None:
        self.strategy.thaw(pl_module, epoch)

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        # A run resumed mid-epoch skips that epoch's start: thaw as the schedule has it now.
        self.strategy.thaw(pl_module, trainer.current_epoch)


class ReinitTop(LayerwiseFineTune):
    """Re-initialize the top `k` layers (and the pooler / final norm above them) before
    training, with the model's own initializer; everything then trains."""

    def __init__(self, k: int = 1, decay: float = 1.0, head_lr_mult: float = 1.0):
        super().__init__(decay, head_lr_mult)
        self.k = int(k)

    def prepare(self, module) -> None:
        super().prepare(module)
        self._check_k(self.k)
        encoder = module.backbone.encoder
        init = getattr(encoder, "_init_weights", None)
        if init is None:
            raise SFTConfigError(
                f"finetune=reinit_top: {type(encoder).__name__} is not a "
                f"transformers model with an initializer"
            )
        top = self.layers.num_layers
        owners = [m for block in self.layers.blocks[top - self.k :] for m in block.modules()]
        if self.k > 0:
            owners += [
                owner
                for name, owner, _, _ in owned_parameters(encoder)
                if self.layers.depths[name] == top + 1
            ]
        with torch.no_grad():
            for owner in dict.fromkeys(owners):  # unique, in order
                for param in owner.parameters(recurse=False):
                    # transformers skips tensors marked as loaded from a checkpoint.
                    param._is_hf_initialized = False
                init(owner)


class FreezeFeatureEncoder(FullFineTune):
    """Speech models (wav2vec2, HuBERT): the convolutional feature encoder that turns the
    waveform into frames stays frozen, as in their own fine-tuning recipes (it is generic
    acoustics, and training it on little data destabilizes the rest); everything else trains."""

    def prepare(self, module) -> None:
        """Freeze the encoder's feature encoder (its `freeze_feature_encoder`)."""
        encoder = module.backbone.encoder
        freeze = getattr(encoder, "freeze_feature_encoder", None)
        if freeze is None:
            raise SFTConfigError(
                f"finetune=freeze_feature_encoder: {type(encoder).__name__} has "
                f"no convolutional feature encoder (wav2vec2, HuBERT have one)"
            )
        freeze()
