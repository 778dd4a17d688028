"""Schemas of the run-wide nodes: the monitored metric and the logger group's trackers (keys
and types; the defaults live in conf/train.yaml and conf/logger/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omegaconf import MISSING

from sft.errors import SFTConfigError


@dataclass
class MonitorSchema:
    metric: str = MISSING
    mode: str = MISSING


class RegisterMode(Enum):
    """logger.register: which runs add a version to the Model Registry."""

    auto = "auto"  # a normal run; a sweep's best job; no debug run
    always = "always"
    never = "never"


CALIBRATIONS = ("temperature", "none")


@dataclass
class DecisionsSchema:
    """`decisions`: post-hoc calibration and tuned decision rules (sft.training.calibrate)."""

    calibrate: str = MISSING  # one of CALIBRATIONS
    tune: bool = MISSING


def check_calibrate(node) -> None:
    """SFTConfigError when `decisions.calibrate` is not one of CALIBRATIONS."""
    value = node.get("calibrate")
    if value not in CALIBRATIONS:
        raise SFTConfigError(
            f"config key 'decisions.calibrate': unknown calibration {value!r} "
            f"(choices: {', '.join(CALIBRATIONS)})"
        )


@dataclass
class MLflowSchema:
    _target_: str = MISSING
    tracking_uri: str = MISSING
    experiment_name: str | None = MISSING
    run_name: str | None = MISSING
    tags: dict[str, str] = MISSING
    log_model: bool = MISSING
    registered_model_name: str | None = MISSING
    register: RegisterMode = MISSING


@dataclass
class NullTrackerSchema:
    _target_: str = MISSING
    local_metrics: bool = MISSING


# sft.inference.explain.BASELINES (text), sft.inference.explain_media.BASELINES (images, audio)
EXPLAIN_BASELINES = ("pad", "mask", "zero", "black", "mean", "silence")


@dataclass
class ExplainRunSchema:
    """`explain`: test examples explained after a run (sft.training.explain_samples)."""

    samples: int = MISSING
    n_steps: int = MISSING
    baseline: str | None = MISSING  # one of EXPLAIN_BASELINES, or None


def check_explain_baseline(node) -> None:
    """SFTConfigError when `explain.baseline` is not one of EXPLAIN_BASELINES."""
    value = node.get("baseline")
    if value is not None and value not in EXPLAIN_BASELINES:  # None: the modality's default
        raise SFTConfigError(
            f"config key 'explain.baseline': unknown baseline {value!r} "
            f"(choices: {', '.join(EXPLAIN_BASELINES)})"
        )
