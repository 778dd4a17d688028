"""Data-parallel runs (`trainer=ddp trainer.devices=N`): one run folder, one MLflow run.

Lightning's DDP launcher starts ranks 1..N-1 by running the same command again, with
`LOCAL_RANK` set (and, under Hydra, `hydra.run.dir=...` added). Left alone, each child would
compose its config anew (a new `${now:}` run folder, a multirun's `-m` starting the whole
sweep again) and open its own MLflow run. So rank zero writes the run's resolved config
before it fits and names it in `SFT_DDP_RUN`, which the children inherit; `sft-train` in a
child skips Hydra altogether and trains from that file, with a tracker that records nothing.
Rank zero alone writes the MLflow run, its artifacts and its model. A child that fails marks
the run FAILED before it exits (Lightning then kills rank zero, which cannot do it itself).

Ranks that a cluster starts itself (srun, torchrun: `RANK` / `SLURM_PROCID` set for every
process) compose the same config; there too only global rank zero records anything.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from sft.errors import SFTConfigError

# JSON: the resolved config's path, the run id, the tracker's handle, the resume checkpoint.
ENV_DDP = "SFT_DDP_RUN"
# What Lightning's launcher sets in rank zero's own environment when it starts the children.
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def global_rank() -> int:
    """This process's rank as Lightning sees it before the process group exists (0: alone)."""
    # lazy, like torch below: `sft-train --help` imports this module (child_launch)
    from lightning_fabric.utilities.rank_zero import _get_rank

    return _get_rank() or 0


def check_data_parallel(trainer, module) -> None:
    """Refuse what DDP would get silently wrong: it syncs the gradients of the parameters that
    were trainable when it wrapped the model, so layers thawed later would drift apart."""
    from sft.model.finetune import GradualUnfreeze  # lazy: `sft-train --help` imports this module

    processes = trainer.num_devices * trainer.num_nodes  # world_size is set only in `fit`
    if processes > 1 and isinstance(module.finetune, GradualUnfreeze):
        raise SFTConfigError(
            f"finetune=gradual_unfreeze cannot train on {processes} "
            f"devices (DDP syncs only the layers trainable at the start); "
            f"use another finetune strategy or trainer.devices=1"
        )


def check_accelerator(trainer_cfg) -> None:
    """A GPU asked for where there is none: one line, not Lightning's traceback."""
    accelerator = str(trainer_cfg.get("accelerator", "auto")).lower()
    if accelerator in ("gpu", "cuda") and not _cuda_available():
        raise SFTConfigError(
            f"trainer.accelerator={accelerator}: no CUDA GPU is available here "
            f"(use trainer.accelerator=cpu, or trainer=default)"
        )


def _cuda_available() -> bool:
    import torch  # lazy: see global_rank

    return torch.cuda.is_available()


def child_launch() -> dict | None:
    """What rank zero shared, when this process is a child Lightning started (else None)."""
    raw = os.environ.get(ENV_DDP)
    if not raw or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return None
    return json.loads(raw)


@contextlib.contextmanager
def shared_with_children(config_path: Path, tracker, resume_checkpoint: Path | None):
    """Rank zero's `fit`/`test`: children started inside inherit the run's config and id.

    Afterwards the launcher's variables go too, so that a next run in this process (a sweep's
    next job) starts its own children instead of waiting for the old ones.
    """
    before = {k: os.environ.get(k) for k in (ENV_DDP, *LAUNCH_ENV)}
    os.environ[ENV_DDP] = json.dumps(
        {
            "config": str(Path(config_path).resolve()),
            "run_id": tracker.run_id,
            "tracker": tracker.handle(),  # a failing child ends the run through it (ddp_child)
            "resume_checkpoint": None if resume_checkpoint is None else str(resume_checkpoint),
        }
    )
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _destroy_process_group()


def _destroy_process_group() -> None:
    import torch.distributed as dist  # lazy: see global_rank

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
