"""Lightning callbacks that tests add to a run's config
(`+callbacks.x._target_=tests.helpers.callbacks.X`) to interrupt it at an exact step, so that
what follows is deterministic."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch


class SignalAt(pl.Callback):
    """Sends this process `signum` when training step `step` ends; once (`marker` remembers,
    so the run resumed from the same config is not stopped again)."""

    def __init__(self, step: int, signum: int, marker: str):
        self.step, self.signum, self.marker = int(step), int(signum), Path(marker)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), self.signum)


class PoisonAt(pl.Callback):
    """Makes the head's weights NaN when training step `step` ends: the next loss is NaN."""

    def __init__(self, step: int):
        self.step = int(step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for param in pl_module.head.parameters():
                    param.fill_(float("nan"))
