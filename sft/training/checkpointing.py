"""Runs that survive being stopped: a checkpoint every n training steps to resume from, a clean
stop on SIGINT / SIGTERM, and a stop with one line when the loss is no longer finite.

A checkpoint is saved at the end of a training batch (where Lightning resumes mid-epoch) but
that batch's metrics reach the logger only afterwards. So it is written under a temporary name
and committed at the next batch's start: first every metric up to its step is written to
MLflow (sft.tracking.run_logger buffers them), then it is renamed to `last.ckpt`. `last.ckpt` is
thus never ahead of the metrics: after `kill -9`, `sft-train resume=<run id>` starts from it, logs
everything after it, and skips the steps MLflow already has. No checkpoint is taken at an
epoch's last batch (the next one is due at the first batch of the next epoch): resuming there
would have to replay the epoch's end (validation, epoch metrics) exactly.

The checkpoint also holds the random number generators (dropout draws from them) and the
train loader's place in its epoch (sft.data.batching.ResumableLoader), so that on CPU the
resumed run computes exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shlex
import signal
import threading
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from sft.errors import RunInterrupted, SFTConfigError, SFTTrainingError

log = logging.getLogger(__name__)

FILENAME = "last.ckpt"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ResumableCheckpoint(pl.Callback):
    """`last.ckpt` every `every_n_train_steps` steps (0: only when a signal stops the run)."""

    def __init__(self, dirpath: str, every_n_train_steps: int = 100):
        if int(every_n_train_steps) < 0:
            raise SFTConfigError(
                f"config key 'callbacks.resume_checkpoint.every_n_train_steps' "
                f"must be >= 0, got {every_n_train_steps}"
            )
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = int(every_n_train_steps)
        self.run_id: str | None = None  # named in the resume hint (None: no MLflow run)
        # Where the run is (logger.tracking_uri, paths.outputs; absolute): the resume hint
        # names them, so that it finds the run from any folder and with any store.
        self.where: dict[str, str | None] = {}
        # A CV or seed child: what to say instead of a resume command (it is run again).
        self.rerun: str | None = None
        self.fitting = False
        self._signal: int | None = None  # the signal that asked the run to stop
        self._pending: tuple[Path, int] | None = None  # saved, not committed: (file, step)
        self._stop_after_commit = False
        self._saved_at = 0  # global step of the last save
        self._rng: dict | None = None  # restored at the first batch after resuming
        self._loader: dict | None = None  # the train loader's place in its epoch
        self._where = (0, 0)  # (epoch, batch) of the batch in progress, for messages

    @property
    def path(self) -> Path:
        return self.dirpath / FILENAME

    # -- signals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def handling_signals(self):
        """For the block: SIGINT and SIGTERM stop fitting at the next step, other work at once."""
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread may handle signals (e.g. a job in a thread pool)
            return
        previous = {s: signal.getsignal(s) for s in SIGNALS}
        for s in SIGNALS:
            signal.signal(s, self._on_signal)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _on_signal(self, signum, frame) -> None:
        if self.fitting and self._signal is None:
            self._signal = signum  # finish this step, save a checkpoint, then stop
            log.warning(
                "%s: stopping after this step, with a checkpoint", signal.Signals(signum).name
            )
            return
        raise RunInterrupted(self._stop_message(signum), signum)  # not fitting, or asked twice

    def _stop_message(self, signum: int) -> str:
        name = signal.Signals(signum).name
        if not self.path.is_file():
            return f"stopped by {name} before the first checkpoint; nothing to resume"
        return f"stopped by {name}; checkpoint: {self.path}{self.resume_hint()}"

    def resume_hint(self) -> str:
        """`; resume: sft-train resume=<id> logger.tracking_uri=... paths.outputs=...`, every
        value absolute and shell-quoted (empty without an MLflow run); a CV or seed child:
        `; <self.rerun>` (such a run is run again, not resumed)."""
        if self.rerun:
            return f"; {self.rerun}"
        if not self.run_id:
            return ""
        keys = [f"{k}={shlex.quote(str(v))}" for k, v in self.where.items() if v is not None]
        return f"; resume: {' '.join(['sft-train', f'resume={self.run_id}', *keys])}"

    # -- Lightning hooks ------------------------------------------------------------------

    def on_train_start(self, trainer, pl_module) -> None:
        self.fitting = True
        if self._loader is not None:  # resuming: skip what the epoch already gave
            # Lightning restores a stateful loader itself only when nothing built the loader
            # before the checkpoint was read; `estimated_stepping_batches` (the LR schedule's
            # length) does, so its state would be dropped.
            trainer.train_dataloader.load_state_dict(self._loader)
            self._loader = None
        if threading.current_thread() is threading.main_thread():
            # Lightning put its own SIGTERM handler in place for the fit (it would stop the
            # run before our checkpoint is committed); ours decides. Lightning restores ours.
            signal.signal(signal.SIGTERM, self._on_signal)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        flush_logger(trainer.logger)  # the last epoch's validation and epoch metrics

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._where = (trainer.current_epoch, batch_idx)
        if self._rng is not None:  # here, after the resumed epoch's loader drew its seed
            set_rng_states(self._rng)
            self._rng = None
        self._commit(trainer)

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        if not torch.isfinite(loss):
            epoch, batch = self._where
            kept = (
                f"the last good checkpoint is kept: {self.path}"
                if self.path.is_file()
                else "no checkpoint was saved before it"
            )
            raise SFTTrainingError(
                f"train/loss became {loss.item()} at step {trainer.global_step}"
                f" (epoch {epoch}, batch {batch}); the run stopped and "
                f"{kept} (a lower optimizer.lr may help)"
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches:
            return  # mid-accumulation: no optimizer step yet
        if batch_idx + 1 >= trainer.num_training_batches:
            return  # an epoch's last batch (see the module docstring)
        due = self._signal is not None or (
            self.every_n_train_steps > 0
            and trainer.global_step - self._saved_at >= self.every_n_train_steps
        )
        if due and self._pending is None:
            self._save(trainer, pl_module)

    def on_validation_start(self, trainer, pl_module) -> None:
        if self.fitting:
            self._commit(trainer)  # validation inside an epoch (val_check_interval < 1)

    def on_train_end(self, trainer, pl_module) -> None:
        self._commit(trainer)
        flush_logger(trainer.logger)
        self.fitting = False
        if self._signal is not None:  # it came too late for a checkpoint within training
            raise RunInterrupted(self._stop_message(self._signal), self._signal)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.fitting = False
        if self._pending is not None:  # not committed: its step's metrics may be missing
            self._pending[0].unlink(missing_ok=True)
            self._pending = None

    def state_dict(self) -> dict:
        return {"saved_at": self._saved_at, "rng": rng_states(), "loader": self._loader}

    def load_state_dict(self, state_dict: dict) -> None:
        self._saved_at = int(state_dict["saved_at"])
        self._rng = state_dict["rng"]
        self._loader = state_dict.get("loader")

    # -- saving and committing --------------------------------------------------------------

    def _save(self, trainer, pl_module) -> None:
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            log.warning("weights are not finite at step %d: no checkpoint", trainer.global_step)
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        partial = self.dirpath / f".{FILENAME}.partial"
        self._saved_at = trainer.global_step
        loader = trainer.train_dataloader
        self._loader = loader.state_dict() if hasattr(loader, "state_dict") else None
        trainer.save_checkpoint(partial, weights_only=False)  # with the optimizer: to resume
        self._loader = None
        # This batch's metrics are logged at step global_step - 1 (Lightning counts logging
        # steps from 0 and optimizer steps from 1).
        self._pending = (partial, trainer.global_step - 1)
        self._stop_after_commit = self._signal is not None

    def _commit(self, trainer) -> None:
        if self._pending is None:
            return
        partial, step = self._pending
        self._pending = None
        flush_logger(trainer.logger, through_step=step)
        if trainer.is_global_zero:  # under DDP only rank zero wrote the file
            os.replace(partial, self.path)  # atomic: last.ckpt is the old one or the new one
        if self._stop_after_commit:
            self.fitting = False
            raise RunInterrupted(self._stop_message(self._signal), self._signal)


def rng_states() -> dict:
    """The random number generators' states, as types `torch.load(weights_only=True)` reads."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Put back what `rng_states` saved."""
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def flush_logger(logger, through_step: int | None = None) -> None:
    """Write what `logger` holds (up to `through_step`); any Lightning logger, or None: the
    tracker's (sft.tracking.run_logger, duck-typed: training names no tracker) has `flush`."""
    if logger is None:
        return
    if hasattr(logger, "flush"):
        logger.flush(through_step)
    else:
        logger.save()  # CSVLogger (logger=none): its own buffer, written to metrics.csv
