"""Checks a run makes before it spends time: that its folders can be written and that its
model can be loaded offline (before the data is read), and that the tokenizer's ids fit the
model's embeddings (before fitting); and its local paths made absolute before they are logged."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sft.errors import SFTConfigError
from sft.model.gguf import gguf_file, is_gguf

# Keys that may hold a path relative to the folder sft-train was started in.
PATH_KEYS = (
    "paths.outputs",
    "paths.cache_dir",
    "data.train_path",
    "data.val_path",
    "data.test_path",
    "data.path",
    "model.name_or_path",
)
# Keys that are a hub id unless they name an existing folder.
HUB_KEYS = ("model.name_or_path", "data.path")


def absolute_paths(cfg: DictConfig) -> None:
    """Make the run's relative local paths absolute, in place, before the config is logged:
    `sft-reproduce` and `resume` then find the same files from any folder. URIs (`pkg://`,
    `s3://`) stay; `model.name_or_path` only when it names an existing folder (else it is a
    hub id such as `microsoft/resnet-50`); `data.path` likewise (else a hub dataset id).
    os.path.abspath, not resolve(): a symlink the user named stays the path they gave."""
    for key in PATH_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None or "://" in str(value):
            continue
        path = os.path.expanduser(str(value))
        if key in HUB_KEYS and not os.path.isdir(path):
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
            raise SFTConfigError(
                f"{key}: cannot write to {err.filename or folder} ({err.strerror})"
            ) from None


# What sft writes into a run folder at a run's start or end: a folder holding any of them
# belongs to a run (its `model` a link into that run's logged model, when the store is local).
RUN_OUTPUTS = ("config.yaml", "model", "checkpoints")


def check_unused_run_dir(run_dir: Path) -> None:
    """Refuse a run folder that holds another run's outputs (a fixed `hydra.run.dir`, or
    `paths.run_dir`, used twice): a second run would overwrite them, and save its model
    through the first run's `model` link into that run's logged, registered model. Hydra
    itself writes `.hydra/` and its log into the folder first: those do not count. A resumed
    run continues in its own folder and is not checked.

    Raises SFTConfigError naming the folder and what it holds."""
    found = [
        name for name in RUN_OUTPUTS if (run_dir / name).exists() or (run_dir / name).is_symlink()
    ]
    if found:
        raise SFTConfigError(
            f"paths.run_dir: {run_dir} holds the outputs of another run ({', '.join(found)}); "
            f"give this run its own folder (hydra.run.dir=... or paths.run_dir=...) or delete "
            f"that one"
        )


def check_vocabulary(datamodule, module) -> None:
    """Every token id the tokenizer produced has a row in the model's embeddings."""
    if datamodule.modality != "text":
        return
    rows = module.backbone.encoder.get_input_embeddings().num_embeddings
    top = max(
        (int(ids.max()) for ds in datamodule.datasets.values() for ids in ds.input_ids if len(ids)),
        default=-1,
    )
    if top >= rows:
        raise SFTConfigError(
            f"model.name_or_path: the tokenizer does not match the model: it "
            f"gives token id {top}, but the model's embeddings have {rows} rows"
        )


def check_model_source(name_or_path: str) -> None:
    """`model.name_or_path` names a model that can load: a folder, a `pkg://` model (its
    package is checked when it is resolved, sft.model.backbone), a `gguf://` file (its
    package and file are checked here, sft.model.gguf), or a hub id that
    is in the local Hugging Face cache or may be downloaded (the network is not switched
    off). Looks only at the disk and the environment: no network call. Raises SFTConfigError
    otherwise, before the data is read, where Hugging Face would fail after it with "Repo id
    must be in the form ..." or "Can't load image processor ...".
    """
    value = str(name_or_path)
    if value.startswith("pkg://"):
        return
    if is_gguf(value):
        gguf_file(value)  # the package and its file: converting waits for the model's load
        return
    path = Path(value).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise SFTConfigError(
            f"model.name_or_path: {path} is a file; give the folder the model "
            f"was saved to (with save_pretrained)"
        )
    # lazy: huggingface_hub only for a value that is not a folder (imports in ~0.2 s)
    from huggingface_hub import is_offline_mode, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(value, "config.json")
    except HFValidationError:  # not a hub id ('./model', '/data/model'): a folder was meant
        raise SFTConfigError(f"model.name_or_path: folder not found: {value}") from None
    if isinstance(cached, str) or not is_offline_mode():
        return
    switch = next(
        name
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
        if os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}
    )
    raise SFTConfigError(
        f"model.name_or_path: '{value}' is neither a local folder nor in the "
        f"local Hugging Face cache, and the network is off ({switch}=1); "
        f"point it at a folder the model was saved to, e.g. "
        f"model.name_or_path=/path/to/model"
    )
