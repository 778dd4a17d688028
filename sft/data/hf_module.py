"""data=hf_dataset: text classification or regression from a 🤗 `datasets` dataset.

`data.path` is a folder written by `save_to_disk`, a local dataset folder (Parquet, CSV or
JSON files, with or without a README that declares its splits and configurations), or a hub
id, online or from the local Hugging Face cache (HF_HUB_OFFLINE=1). The rows then go through
the same validation, splitting, tokenization and batching as files (sft.data.module); only
reading and the label names differ: a ClassLabel column gives its names in its own order, a
list of ClassLabel is multilabel, a float column regression.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from sft.data.labels import Examples, LabelSpace, extract, infer_label_space
from sft.data.module import TextDataModule
from sft.errors import SFTConfigError, SFTDataError

# data.splits key -> the split of the module; a validation or test split left null is the
# dataset's split of one of these names when it has one, else carved from train.
SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}
USUAL_NAMES = {"validation": ("validation", "valid", "val", "dev"), "test": ("test",)}


class HFDatasetDataModule(TextDataModule):
    """A TextDataModule whose splits come from a `datasets` DatasetDict instead of files.

    `path`: hub id | save_to_disk folder | local dataset folder; `name`: the dataset's
    configuration (None: its default); `splits`: {train, validation, test} -> the dataset's
    split names (validation/test None: a split named validation/valid/val/dev, resp. test, else
    carved from train by `val_fraction`/`test_fraction`); `experiment`: names the MLflow
    experiment (`name` is the configuration here). Other keys as TextDataModule.
    Raises SFTConfigError/SFTDataError naming `data.path`, `data.name`, `data.splits.<key>`
    or the column key.
    """

    def __init__(self, path: str, name: str | None = None, experiment: str = "hf_dataset",
                 splits: dict | None = None, **kwargs):
        super().__init__(experiment, train_path=str(path), **kwargs)
        self.path = str(path)
        self.config_name = name
        self.splits = dict(splits or {})
        self.label_feature = None

    def _read_splits(self) -> None:
        dataset = open_dataset(self.path, self.config_name)
        chosen = choose_splits(dataset, self.splits, self.path)
        for split, split_name in chosen.items():
            part = dataset[split_name]
            source = f"{self.path} (split '{split_name}')"
            self.examples[split] = _examples(part, source, self.text_column, self.label_column,
                                             self.clean_text)
            self.fingerprints[split] = part._fingerprint  # datasets' own content fingerprint
        self.label_feature = dataset[chosen["train"]].features[self.label_column]

    def _label_space(self, loss_task: str | None) -> LabelSpace:
        """As files, except that a ClassLabel gives the names (in its order) and a float
        column is regression unless data.task or the loss says otherwise."""
        task = self.requested_task
        if task == "auto" and loss_task is None and _is_float(self.label_feature):
            task = "regression"
        labels = infer_label_space(self.examples["train"], self.label_column, task, loss_task,
                                   self.label_separator)
        names = class_names(self.label_feature)
        if names and labels.task != "regression":
            if labels.task == "binary" and len(names) != 2:
                raise SFTDataError(f"{self.examples['train'].source}: task 'binary' needs "
                                   f"exactly 2 labels; ClassLabel column '{self.label_column}' "
                                   f"has {len(names)} ({', '.join(names[:10])})")
            labels.names = list(names)
        return labels


def open_dataset(path: str, config_name: str | None):
    """The DatasetDict at `path` (save_to_disk folder, local dataset folder or hub id).

    A single saved Dataset becomes {"train": it}. Raises SFTDataError naming data.path when
    nothing can be loaded (offline and not cached: how to fix it; no retries), SFTConfigError
    naming data.name for a configuration the dataset lacks.
    """
    import datasets  # lazy: datasets and pyarrow (~1 s) only when this source is used

    datasets.disable_progress_bars()
    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_dict.json").is_file()
                           or (local / "state.json").is_file()):
        if config_name is not None:
            raise SFTConfigError(f"data.name={config_name}: {path} was written by save_to_disk "
                                 f"and has no configurations; set data.name=null")
        loaded = datasets.load_from_disk(str(local))
        return datasets.DatasetDict({"train": loaded}) if isinstance(loaded, datasets.Dataset) \
            else loaded
    if not local.is_dir() and (path.startswith((".", "/", "~")) or local.exists()):
        raise SFTDataError(f"data.path: folder not found: {path} (give a folder written by "
                           f"save_to_disk, a dataset folder, or a hub id)")
    try:
        return datasets.load_dataset(str(local) if local.is_dir() else path, config_name)
    except ConnectionError as err:
        raise SFTDataError(_unreachable(path, err)) from None
    except ValueError as err:
        text = str(err)
        if "BuilderConfig" in text or "Config name" in text or "config" in text.lower():
            raise SFTConfigError(f"data.name={config_name}: {text.splitlines()[0]}") from None
        raise SFTDataError(f"data.path: cannot load {path} ({text.splitlines()[0]})") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        raise SFTDataError(f"data.path: cannot load {path} ({str(err).splitlines()[0]})") \
            from None


def _unreachable(path: str, err: Exception) -> str:
    """The one line for a hub id that is neither cached nor downloadable."""
    from huggingface_hub import is_offline_mode  # lazy: with datasets, only for hub ids

    if is_offline_mode():
        switch = next((name for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
                       if os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}),
                      "HF_HUB_OFFLINE")
        return (f"data.path: '{path}' is neither a local folder nor in the local Hugging Face "
                f"cache, and the network is off ({switch}=1); load it once with the network "
                f"on, or point data.path at a folder written by save_to_disk")
    return (f"data.path: cannot reach the Hugging Face Hub for '{path}' "
            f"({str(err).splitlines()[0]}); check the network, or point data.path at a folder "
            f"written by save_to_disk")


def choose_splits(dataset, splits: dict, path: str) -> dict[str, str]:
    """Our split ("train", "val", "test") -> the dataset's split name, for those present.

    Raises SFTConfigError naming data.splits.<key> for a key we do not know or a split name
    the dataset lacks (listing the ones it has).
    """
    available = list(dataset.keys())
    unknown = sorted(set(splits) - set(SPLIT_KEYS))
    if unknown:
        raise SFTConfigError(f"data.splits.{unknown[0]}: unknown split key (keys: "
                             f"{', '.join(SPLIT_KEYS)})")
    chosen = {}
    for key, ours in SPLIT_KEYS.items():
        wanted = splits.get(key, "train" if key == "train" else None)
        if wanted is None and key != "train":
            wanted = next((n for n in USUAL_NAMES[key] if n in available), None)
            if wanted is None or wanted in chosen.values():
                continue
        if wanted not in available:
            raise SFTConfigError(f"data.splits.{key}: no split '{wanted}' in {path} (splits: "
                                 f"{', '.join(available)})")
        chosen[ours] = str(wanted)
    return chosen


def _examples(part, source: str, text_column: str, label_column: str,
              clean_text: bool) -> Examples:
    """Validated texts and labels of one split; ClassLabel ids become their names."""
    columns = list(part.column_names)
    for key, column in (("data.text_column", text_column), ("data.label_column", label_column)):
        if column not in columns:
            raise SFTDataError(f"{key}: no column '{column}' in {source} (columns: "
                               f"{', '.join(columns)})")
    frame = part.select_columns([text_column, label_column]).to_pandas()
    names = class_names(part.features[label_column])
    if names:
        frame[label_column] = _id_names(frame[label_column], names, source, label_column)
    return extract(frame, source, text_column, label_column, clean_text)


def _id_names(ids: pd.Series, names: list[str], source: str, column: str) -> pd.Series:
    """ClassLabel ids (or lists of them) -> names; -1 (datasets' "no label") stays missing."""
    def name(value, row):
        if value is None or value == -1:
            return None
        if not 0 <= value < len(names):
            raise SFTDataError(f"{source} row {row}: label id {value} in column '{column}' is "
                               f"not a class of its ClassLabel ({len(names)} names)")
        return names[int(value)]

    out = []
    for row, value in enumerate(ids, start=1):
        if isinstance(value, (list, tuple, np.ndarray)):
            out.append([name(v, row) for v in value])
        else:
            out.append(name(value, row))
    return pd.Series(out, dtype=object)


def class_names(feature) -> list[str]:
    """The names of a ClassLabel feature, or of the ClassLabel inside a list feature; []."""
    from datasets import ClassLabel  # lazy: datasets is imported once a dataset is opened

    inner = getattr(feature, "feature", None)
    for candidate in (feature, inner):
        if isinstance(candidate, ClassLabel):
            return list(candidate.names)
    return []


def _is_float(feature) -> bool:
    """A scalar float column (float16/32/64): a regression target."""
    return str(getattr(feature, "dtype", "")).startswith("float") and \
        not hasattr(feature, "feature")
