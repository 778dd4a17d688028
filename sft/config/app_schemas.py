"""Structured configs of the apps that put a trained model to work: `sft-predict` over
apps/predict.yaml, `sft-explain` over apps/explain.yaml, `sft-export` over apps/export.yaml
and `sft-serve` over apps/serve.yaml (the train config's schemas are in sft/config/schema.py).
Checked before anything heavy is imported; a bad key fails with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omegaconf import MISSING, DictConfig

from sft.config.schema import check_schema
from sft.errors import SFTConfigError


class Backend(Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


class ExportFormat(Enum):
    folder = "folder"
    onnx = "onnx"


class Quantize(Enum):
    int8 = "int8"


class Baseline(Enum):
    """Text: pad, mask, zero (sft.inference.explain); images: black, mean; audio: silence
    (sft.inference.explain_media)."""

    pad = "pad"
    mask = "mask"
    zero = "zero"
    black = "black"
    mean = "mean"
    silence = "silence"


@dataclass
class PredictSchema:
    model_uri: str = MISSING
    input: str = MISSING
    split: str | None = MISSING
    output: str = MISSING
    text_column: str = MISSING
    batch_size: int = MISSING
    progress: bool = MISSING
    backend: Backend = MISSING
    tracking_uri: str = MISSING
    masks_dir: str | None = MISSING
    # generating models (causal LM); null: the model's saved settings
    max_new_tokens: int | None = None
    num_beams: int | None = None


@dataclass
class ExportSchema:
    run_id: str | None = MISSING
    model_uri: str | None = MISSING
    format: ExportFormat = MISSING
    out: str = MISSING
    overwrite: bool = MISSING
    tolerance: float = MISSING
    opset: int | None = MISSING
    parity_texts: list[str] = MISSING
    quantize: Quantize | None = MISSING
    min_agreement: float = MISSING
    agreement_split: str | None = MISSING
    tracking_uri: str = MISSING


@dataclass
class ServeSchema:
    model_uri: str = MISSING
    host: str = MISSING
    port: int = MISSING
    tracking_uri: str = MISSING


@dataclass
class ExplainSchema:
    model_uri: str = MISSING
    input: str = MISSING
    split: str | None = MISSING
    text_column: str = MISSING
    limit: int | None = MISSING
    target: str | None = MISSING
    n_steps: int = MISSING
    baseline: Baseline | None = MISSING
    internal_batch_size: int | None = MISSING
    out_dir: str = MISSING
    top_words: int = MISSING
    progress: bool = MISSING
    tracking_uri: str = MISSING
    log: bool = MISSING
    experiment: str = MISSING


POSITIVE = {
    PredictSchema: ("batch_size", "max_new_tokens", "num_beams"),
    ExplainSchema: ("limit", "n_steps", "internal_batch_size", "top_words"),
    ExportSchema: ("tolerance",),
    ServeSchema: ("port",),
}


def validate_app(cfg: DictConfig, schema: type) -> None:
    """Check an app config against `schema`; raise SFTConfigError naming the first bad key."""
    check_schema(cfg, schema)
    for key in POSITIVE.get(schema, ()):
        value = cfg.get(key)
        if isinstance(value, (int, float)) and value <= 0:
            raise SFTConfigError(f"config key '{key}' must be > 0, got {value}")
