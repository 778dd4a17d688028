"""Lightning's output that says nothing a user of sft can act on, silenced one message at a
time (never by muting a logger or a warning category): what is left is worth reading.

- the "💡 Tip: ... litlogger / litmodels" advertisements (an INFO record; Lightning 2.6 has no
  switch for them);
- "Checkpoint directory ... exists and is not empty" when what is there is sft's own: the run
  config and fingerprints it writes before fitting, or a resumed run's own checkpoints;
- torch's FutureWarning on `isinstance(treespec, LeafSpec)`, raised inside Lightning's
  `_pytree.py` (nothing a user can change);
- "The number of training batches (n) is smaller than the logging interval": Lightning counts
  its logging steps across epochs, so step metrics are still logged every
  `log_every_n_steps` steps and the epoch metrics every epoch;
- the model summary's "Total Flops" line and FLOPs column, always 0: Lightning counts FLOPs
  only for a module with an `example_input_array`, which sft's modules (whose input length
  varies) do not set. sft's own estimate is `perf/train_gflop_per_s` (sft.training.throughput).
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.callbacks import ModelSummary as LightningModelSummary
from pytorch_lightning.utilities.model_summary.model_summary import _format_summary_table

from sft.training.fingerprints import FINGERPRINTS
from sft.training.resume import RUN_CONFIG

RANK_ZERO_LOGGER = "pytorch_lightning.utilities.rank_zero"
TIP_PREFIX = "💡 Tip:"
LEAF_SPEC = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LOGGING_INTERVAL = r"The number of training batches \(\d+\) is smaller than the logging interval"
OWN_FILES = {RUN_CONFIG, FINGERPRINTS}  # what sft writes into checkpoints/ before fitting

# The logger Lightning's own summary writes to: the table looks and routes as before.
log = logging.getLogger("pytorch_lightning.callbacks.model_summary")


class _NoTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ..." advertisements, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIP_PREFIX)


def drop_lightning_tips() -> None:
    """Filter the tips out of Lightning's rank-zero logger (once per process)."""
    logger = logging.getLogger(RANK_ZERO_LOGGER)
    if not any(isinstance(f, _NoTips) for f in logger.filters):
        logger.addFilter(_NoTips())


@contextlib.contextmanager
def quiet_fit(trainer: pl.Trainer, resumed: bool) -> Iterator[None]:
    """While fitting and testing: ignore the warnings above (the checkpoint-folder one only
    for this run's own folders, see `own_checkpoint_dirs`); the filters go when it ends."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=LEAF_SPEC,
            category=FutureWarning,
            module=r"pytorch_lightning\.utilities\._pytree",
        )
        warnings.filterwarnings("ignore", message=LOGGING_INTERVAL, category=UserWarning)
        for folder in own_checkpoint_dirs(trainer, resumed):
            warnings.filterwarnings(
                "ignore",
                category=UserWarning,
                message=re.escape(f"Checkpoint directory {folder} exists and is not empty."),
            )
        yield


def own_checkpoint_dirs(trainer: pl.Trainer, resumed: bool) -> list[str]:
    """The checkpoint folders whose content is this run's: a resumed run's (its checkpoints
    are what it continues from), else those holding only the files sft wrote before fitting.
    A folder with anything else (a run folder reused by hand) keeps Lightning's warning."""
    own = []
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint) or callback.dirpath is None:
            continue
        folder = Path(callback.dirpath)
        if resumed or not folder.is_dir() or {p.name for p in folder.iterdir()} <= OWN_FILES:
            own.append(str(callback.dirpath))
    return own


class ModelSummary(LightningModelSummary):
    """Lightning's model summary without the FLOPs it cannot count (a column of zeros and
    "0 Total Flops"); with FLOPs counted (a module with `example_input_array`) it is
    Lightning's own."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Log the table; `summary_data` is Lightning's list of (column name, cells)."""
        if total_flops:
            LightningModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        columns = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(
            total_parameters, trainable_parameters, model_size, total_training_modes, 0, *columns
        )
        lines = table.splitlines()
        if lines and lines[-1].rstrip().endswith("Total Flops"):
            lines = lines[:-1]
        log.info("\n%s", "\n".join(lines))
