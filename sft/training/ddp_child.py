"""A DDP child rank that Lightning started (`sft-train` re-run with LOCAL_RANK set): train from
rank zero's resolved config, recording nothing (sft.training.distributed says why).

Its own module so that `sft.training.run` -> `sft.training.distributed` stays one-way: this
is the only place that both trains and knows about the launch.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from sft.config.instantiate import instantiate
from sft.errors import SFTError
from sft.training.resume import Resume
from sft.training.run import train


def run_child(launch: dict) -> None:
    """A child rank: train from rank zero's config; on failure mark the run FAILED and exit."""
    try:
        cfg = OmegaConf.load(launch["config"])
        resume = None
        if launch.get("resume_checkpoint"):
            resume = Resume(run_id=launch["run_id"], checkpoint=Path(launch["resume_checkpoint"]))
        train(cfg, resume)  # not rank zero: it trains along and records nothing
    except BaseException as err:
        _mark_failed(launch)
        if isinstance(err, SFTError):
            print(f"sft-train (rank {os.environ.get('LOCAL_RANK')}): error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        raise


def _mark_failed(launch: dict) -> None:
    """End rank zero's run as FAILED, through a tracker of its store (its handle)."""
    if not launch.get("run_id") or not launch.get("tracker"):
        return
    with contextlib.suppress(Exception):  # the failure itself matters more than this
        instantiate(launch["tracker"]).attach(launch["run_id"]).close("FAILED")
