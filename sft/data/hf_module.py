"""data=hf_dataset: text classification or regression from a 🤗 `datasets` dataset.

`data.path` is a folder written by `save_to_disk`, a local dataset folder (Parquet, CSV or
JSON files, with or without a README that declares its splits and configurations), or a hub
id, online or from the local Hugging Face cache (HF_HUB_OFFLINE=1). The rows then go through
the same validation, splitting, tokenization and batching as files (sft.data.module); only
reading and the label names differ: a ClassLabel column gives its names in its own order, a
list of ClassLabel is multilabel, a float column regression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sft.data.hf_sources import choose_splits, class_names, open_dataset
from sft.data.labels import Examples, LabelSpace, extract, infer_label_space
from sft.data.module import TextDataModule
from sft.errors import SFTDataError


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


def _is_float(feature) -> bool:
    """A scalar float column (float16/32/64): a regression target."""
    return str(getattr(feature, "dtype", "")).startswith("float") and \
        not hasattr(feature, "feature")
