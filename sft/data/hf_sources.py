"""Open a 🤗 `datasets` dataset (a save_to_disk folder, a local dataset folder, a hub id) and
pick its splits, with one-line errors naming the key; no Lightning here, so prediction
(sft.inference) reads the same sources as training (sft.data.hf_module)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from sft.errors import SFTConfigError, SFTDataError, first_line

# data.splits key -> the split of the module; a validation or test split left null is the
# dataset's split of one of these names when it has one, else carved from train.
SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}
log = logging.getLogger(__name__)

USUAL_NAMES = {"validation": ("validation", "valid", "val", "dev"), "test": ("test",)}


def is_saved_dataset(path: str) -> bool:
    """A folder written by `save_to_disk` (a DatasetDict or one Dataset)."""
    local = Path(path).expanduser()
    return (local / "dataset_dict.json").is_file() or (local / "state.json").is_file()


def read_split(path: str, split: str | None, key: str = "input", media_dir: str | None = None):
    """One split of the dataset at `path` as a DataFrame (ClassLabel columns as names), for
    prediction. `split` None: `test`, else the only split. Image and Audio columns hold file
    paths (embedded bytes written under `media_dir`, sft.data.hf_media) and
    `frame.attrs["media_names"]` maps each such column to the file names the dataset records
    (for display). Raises SFTConfigError naming `split` for a split the dataset lacks
    (listing those it has)."""
    from datasets import Audio, Image  # lazy: datasets is imported once a dataset is opened

    from sft.data.hf_media import media_files, stored_names  # lazy: with datasets above

    dataset = open_dataset(path, None, key=key)
    available = list(dataset.keys())
    if split is None:
        split = "test" if "test" in available else available[0] if len(available) == 1 else None
        if split is None:
            raise SFTConfigError(
                f"split: {path} has the splits {', '.join(available)}; choose "
                f"one, e.g. split={available[0]}"
            )
    if split not in available:
        raise SFTConfigError(
            f"split: no split '{split}' in {path} (splits: {', '.join(available)})"
        )
    part = dataset[split]
    media = {
        c: "image" if isinstance(f, Image) else "audio"
        for c, f in part.features.items()
        if isinstance(f, (Image, Audio))
    }
    frame = part.remove_columns(list(media)).to_pandas()  # no bytes in the table
    for column, modality in media.items():
        frame[column] = media_files(
            part, column, modality, media_dir, f"{path} (split '{split}')", key
        )
    frame = frame[list(part.column_names)]
    frame.attrs["media_names"] = {c: stored_names(part, c) for c in media}
    for column, feature in part.features.items():
        names = class_names(feature)
        if names and not hasattr(feature, "feature"):
            frame[column] = [None if v is None or v < 0 else names[int(v)] for v in frame[column]]
    return frame


def open_dataset(path: str, config_name: str | None, key: str = "data.path"):
    """The DatasetDict at `path` (save_to_disk folder, local dataset folder or hub id).

    A single saved Dataset becomes {"train": it}. Raises SFTDataError naming data.path when
    nothing can be loaded (offline and not cached: how to fix it; no retries), SFTConfigError
    naming data.name for a configuration the dataset lacks.
    """
    return open_with_content(path, config_name, key, saved_hashes=False)[0]


def open_with_content(
    path: str, config_name: str | None, key: str = "data.path", saved_hashes: bool = True
):
    """`open_dataset`, and the sha256 of each split's files (split name -> hex digest) when
    `path` is a local folder (None for a hub id, whose revision datasets fingerprints, and for
    a save_to_disk folder without `saved_hashes`: read as it is, it needs none).

    🤗 datasets keys its cache of a local folder's build by each file's path, size and
    modification time, so an edit that keeps them (`cp -p`, `rsync -t`, `tar`) was served
    from the cache, stale. The build is cached under a folder named by the files' content
    instead: other bytes, another build. Raises as `open_dataset`."""
    import datasets  # lazy: datasets and pyarrow (~1 s) only when this source is used

    datasets.disable_progress_bars()
    local = Path(path).expanduser()
    if local.is_dir() and is_saved_dataset(path):
        if config_name is not None:
            raise SFTConfigError(
                f"data.name={config_name}: {path} was written by save_to_disk "
                f"and has no configurations; set data.name=null"
            )
        loaded = datasets.load_from_disk(str(local))
        if not saved_hashes:
            return _as_dict(loaded), None
        if isinstance(loaded, datasets.Dataset):
            return _as_dict(loaded), {"train": files_sha256(local)}
        return loaded, {name: files_sha256(local / name) for name in loaded}
    if not local.is_dir() and (path.startswith((".", "/", "~")) or local.exists()):
        raise SFTDataError(
            f"{key}: folder not found: {path} (give a folder written by "
            f"save_to_disk, a dataset folder, or a hub id)"
        )
    try:
        if not local.is_dir():
            return datasets.load_dataset(path, config_name), None
        files = datasets.load_dataset_builder(str(local), config_name).config.data_files or {}
        content = {str(split): files_sha256(*map(Path, paths)) for split, paths in files.items()}
        build = hashlib.sha256(json.dumps(sorted(content.items())).encode()).hexdigest()[:16]
        cache_dir = Path(datasets.config.HF_DATASETS_CACHE) / "sft-content" / build
        return datasets.load_dataset(str(local), config_name, cache_dir=str(cache_dir)), content
    except ConnectionError as err:
        raise SFTDataError(_unreachable(path, err).replace("data.path", key)) from None
    except ValueError as err:
        text = str(err)
        if "BuilderConfig" in text or "Config name" in text or "config" in text.lower():
            raise SFTConfigError(f"data.name={config_name}: {text.splitlines()[0]}") from None
        raise SFTDataError(f"{key}: cannot load {path} ({text.splitlines()[0]})") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        raise SFTDataError(f"{key}: cannot load {path} ({str(err).splitlines()[0]})") from None
    except datasets.exceptions.DatasetGenerationError as err:  # a builder failed on the files
        cause = err.__cause__ or err
        hint = (
            " (datasets encodes audio with torchcodec, which sft does not install; read "
            "a folder per class with data=audio_folder data.train_path=<folder>/train)"
            if "torchcodec" in str(cause)
            else ""
        )
        raise SFTDataError(
            f"{key}: cannot build a dataset from {path}: {first_line(str(cause))}{hint}"
        ) from None


def _as_dict(loaded):
    """A saved DatasetDict as it is; a single saved Dataset as {"train": it}."""
    import datasets  # lazy: as open_with_content

    return (
        datasets.DatasetDict({"train": loaded}) if isinstance(loaded, datasets.Dataset) else loaded
    )


def files_sha256(*paths: Path) -> str:
    """sha256 of the bytes of `paths` one after another (a folder: its files, sorted by
    path): for one file, that file's sha256, as file sources (sft.data.sources) log it."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                with open(file, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()


def _unreachable(path: str, err: Exception) -> str:
    """The one line for a hub id that is neither cached nor downloadable."""
    from huggingface_hub import is_offline_mode  # lazy: with datasets, only for hub ids

    if is_offline_mode():
        switch = next(
            (
                name
                for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
                if os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}
            ),
            "HF_HUB_OFFLINE",
        )
        return (
            f"data.path: '{path}' is neither a local folder nor in the local Hugging Face "
            f"cache, and the network is off ({switch}=1); load it once with the network "
            f"on, or point data.path at a folder written by save_to_disk"
        )
    return (
        f"data.path: cannot reach the Hugging Face Hub for '{path}' "
        f"({str(err).splitlines()[0]}); check the network, or point data.path at a folder "
        f"written by save_to_disk"
    )


def choose_splits(dataset, splits: dict, path: str) -> dict[str, str]:
    """Our split ("train", "val", "test") -> the dataset's split name, for those present.

    Named splits are taken first; a validation or test split left null is the dataset's split
    of a usual name (USUAL_NAMES) that no key took, else none (carved from train by the data
    module). When a named key takes the split the null one would have found
    (`data.splits.test=validation`), one INFO line says that the latter is held out of train.
    Raises SFTConfigError naming data.splits.<key> for a key we do not know, a split name the
    dataset lacks (listing the ones it has), or one split named for two keys.
    """
    available = list(dataset.keys())
    unknown = sorted(set(splits) - set(SPLIT_KEYS))
    if unknown:
        raise SFTConfigError(
            f"data.splits.{unknown[0]}: unknown split key (keys: {', '.join(SPLIT_KEYS)})"
        )
    named = {key: splits.get(key, "train" if key == "train" else None) for key in SPLIT_KEYS}
    chosen, taken_by = {}, {}
    for key, wanted in named.items():
        if wanted is None:
            continue
        if wanted not in available:
            raise SFTConfigError(
                f"data.splits.{key}: no split '{wanted}' in {path} (splits: {', '.join(available)})"
            )
        if str(wanted) in taken_by:
            raise SFTConfigError(
                f"data.splits.{key}: the split '{wanted}' is already "
                f"data.splits.{taken_by[str(wanted)]}; one split cannot be two (null: held out "
                "of train)"
            )
        chosen[SPLIT_KEYS[key]], taken_by[str(wanted)] = str(wanted), key
    for key, wanted in named.items():
        if wanted is not None:
            continue
        found = [n for n in USUAL_NAMES[key] if n in available]
        free = [n for n in found if n not in taken_by]
        if free:
            chosen[SPLIT_KEYS[key]], taken_by[free[0]] = free[0], key
        elif found:  # its usual split is another key's: say where this one comes from
            fraction = "data.val_fraction" if key == "validation" else "data.test_fraction"
            log.info(
                "data.splits.%s=%s takes the split '%s', so the %s split is held out of train "
                "(%s), not read from '%s'",
                taken_by[found[0]],
                found[0],
                found[0],
                key,
                fraction,
                found[0],
            )
    return {ours: chosen[ours] for ours in SPLIT_KEYS.values() if ours in chosen}


def class_names(feature) -> list[str]:
    """The names of a ClassLabel feature, or of the ClassLabel inside a list feature; []."""
    from datasets import ClassLabel  # lazy: datasets is imported once a dataset is opened

    inner = getattr(feature, "feature", None)
    for candidate in (feature, inner):
        if isinstance(candidate, ClassLabel):
            return list(candidate.names)
    return []
