"""Fine-tuning strategies: which parameters train, and at which learning rate."""

from __future__ import annotations

from sft.model.optim import decay_groups


class FullFineTune:
    """Every parameter trains; the head at `head_lr_mult` times the base learning rate."""

    def __init__(self, head_lr_mult: float = 1.0):
        self.head_lr_mult = float(head_lr_mult)

    def param_groups(self, module, lr: float, weight_decay: float) -> list[dict]:
        """Optimizer groups for `module` (with .backbone and .head): decay / no decay, per part."""
        return (decay_groups(module.backbone, weight_decay, lr, name="backbone")
                + decay_groups(module.head, weight_decay, lr * self.head_lr_mult, name="head"))
