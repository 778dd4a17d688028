"""Checks a run makes before it spends time: that its folders can be written (before the data
is read) and that the tokenizer's ids fit the model's embeddings (before fitting); and its
local paths made absolute before they are logged."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft.errors import SFTConfigError


# Keys that may hold a path relative to the folder sft-train was started in.
PATH_KEYS = ("paths.outputs", "paths.cache_dir", "data.train_path", "data.val_path",
             "data.test_path", "model.name_or_path")


def absolute_paths(cfg: DictConfig) -> None:
    """Make the run's relative local paths absolute, in place, before the config is logged:
    `sft-reproduce` and `resume` then find the same files from any folder. URIs (`pkg://`,
    `s3://`) stay; `model.name_or_path` only when it names an existing folder (else it is a
    hub id such as `microsoft/resnet-50`). os.path.abspath, not resolve(): a symlink the user
    named stays the path they gave."""
    for key in PATH_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None or "://" in str(value):
            continue
        path = os.path.expanduser(str(value))
        if key == "model.name_or_path" and not os.path.isdir(path):
            continue
        if os.path.abspath(path) != str(value):
            OmegaConf.update(cfg, key, os.path.abspath(path))


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
