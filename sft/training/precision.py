"""`trainer.precision: auto`: bf16 autocast where the hardware computes bf16 natively, fp32
everywhere else.

bf16 autocast is a speed-up only where matmuls run in bf16 natively: CUDA GPUs from Ampere on,
and CPUs with AVX512-BF16 or AMX (on this project's 2-core EPYC, a MiniLM training step takes
about 0.65x the fp32 time; see benchmarks/train_throughput.py). Elsewhere it converts back and
forth and is slower than fp32, so `auto` picks fp32 there. The choice is written into the
run's config before anything is logged, so the run's params say which one it trained with and
a rerun from them (sft-reproduce) uses the same. The default stays 32-true: bf16 changes the
metrics a little, and differently on different CPUs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

BF16 = "bf16-mixed"
FP32 = "32-true"
# /proc/cpuinfo flags of native bf16 arithmetic (x86: AVX512-BF16, AMX; Arm: the BF16 extension).
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}
# fp16 autocast settings that Lightning runs as bf16-mixed on the CPU (torch has no fp16
# autocast there): the run's params would say 16-mixed of a run that computed in bf16.
FP16_MIXED = {"16-mixed", "16"}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read: not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            return set(value.split())
    return set()


def auto_precision(accelerator: str = "auto", flags: set[str] | None = None) -> str:
    """The precision `auto` stands for, for this machine and `trainer.accelerator`."""
    accelerator = str(accelerator).lower()
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return BF16 if torch.cuda.is_bf16_supported() else FP32
    if accelerator in ("auto", "cpu"):
        native = BF16_CPU_FLAGS & (cpu_flags() if flags is None else flags)
        return BF16 if native else FP32
    return FP32  # mps, tpu, ...: Lightning's own default


def on_cpu(accelerator: str) -> bool:
    """Whether `trainer.accelerator` trains on the CPU (auto: where no CUDA GPU is)."""
    accelerator = str(accelerator).lower()
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def resolve_precision(trainer_cfg) -> str:
    """Replace `precision: auto` in the trainer config by what it stands for, and 16-mixed on
    the CPU by bf16-mixed (what Lightning runs there instead, with one line saying so), so that
    the run logs the precision it ran; return it."""
    precision = str(trainer_cfg.get("precision", FP32))
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if precision == "auto":
        precision = auto_precision(accelerator)
        trainer_cfg.precision = precision
    elif precision in FP16_MIXED and on_cpu(accelerator):
        log.warning(
            "trainer.precision=%s: fp16 autocast does not run on the CPU, so Lightning runs "
            "bf16-mixed, and the run logs that",
            precision,
        )
        precision = BF16
        trainer_cfg.precision = precision
    return precision
