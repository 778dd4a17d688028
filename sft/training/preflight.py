"""Checks a run makes before it spends time: that its folders can be written (before the data
is read) and that the tokenizer's ids fit the model's embeddings (before fitting)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft.errors import SFTConfigError


def check_writable(cfg: DictConfig) -> None:
    """The run folder and the cache can be written: refuse now, not after the data is read."""
    for key in ("paths.run_dir", "paths.cache_dir"):
        folder = Path(str(OmegaConf.select(cfg, key)))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise SFTConfigError(f"{key}: cannot write to {err.filename or folder} "
                                 f"({err.strerror})") from None


def check_vocabulary(datamodule, module) -> None:
    """Every token id the tokenizer produced has a row in the model's embeddings."""
    if datamodule.modality != "text":
        return
    rows = module.backbone.encoder.get_input_embeddings().num_embeddings
    top = max((int(ids.max()) for ds in datamodule.datasets.values() for ids in ds.input_ids
               if len(ids)), default=-1)
    if top >= rows:
        raise SFTConfigError(f"model.name_or_path: the tokenizer does not match the model: it "
                             f"gives token id {top}, but the model's embeddings have {rows} rows")
