"""Parameter groups (no weight decay on biases and norms) and warmup schedules."""

from __future__ import annotations

from torch import nn


def is_no_decay(module: nn.Module, param_name: str) -> bool:
    """Biases and the weights of normalization layers are not decayed (BERT's recipe)."""
    return param_name == "bias" or "norm" in type(module).__name__.lower()


def owned_parameters(model: nn.Module):
    """(full name, owning module, name in the owner, parameter) for each parameter, once."""
    seen = set()
    for prefix, owner in model.named_modules():
        for local, param in owner.named_parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                yield (f"{prefix}.{local}" if prefix else local), owner, local, param


def decay_groups(model: nn.Module, weight_decay: float, lr: float, name: str) -> list[dict]:
    """The trainable parameters of `model` in two groups, decayed and not decayed, at `lr`."""
    decay, no_decay = [], []
    for _, owner, local, param in owned_parameters(model):
        if param.requires_grad:
            (no_decay if is_no_decay(owner, local) else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay, "lr": lr, "name": name},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr, "name": f"{name}_no_decay"},
    ]
    return [g for g in groups if g["params"]]


def warmup_schedule(optimizer, num_training_steps: int, name: str = "linear", warmup: float = 0.0):
    """transformers' schedule `name` with `warmup` as a fraction of the training steps."""
    from transformers import get_scheduler  # lazy: Hydra builds the partial before training

    schedule = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[name]
    return get_scheduler(
        schedule,
        optimizer,
        num_warmup_steps=int(warmup * num_training_steps),
        num_training_steps=num_training_steps,
    )
