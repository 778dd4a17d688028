"""data=hf_dataset: text, image or audio classification (or regression) from a 🤗 `datasets`
dataset; which one is set by the input column key (`image_column` or `audio_column` when
one is set, else `text_column`; `hf_dataset` below chooses the module).

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

from sft.data.hf_media import media_files
from sft.data.hf_sources import choose_splits, class_names, open_with_content
from sft.data.labels import Examples, extract
from sft.data.media_module import AudioFolderDataModule, ImageFolderDataModule
from sft.data.module import TextDataModule
from sft.errors import SFTConfigError, SFTDataError

MEDIA_KEYS = {"image": ("hflip", "crop_scale", "normalize"), "audio": ("max_seconds",)}
TEXT_ONLY_KEYS = ("standardize", "clean_text", "group_by_length")


def hf_dataset(
    path: str,
    text_column: str | None = None,
    image_column: str | None = None,
    audio_column: str | None = None,
    media_dir: str | None = None,
    **kwargs,
):
    """data=hf_dataset's `_target_`: the data module of the modality whose input column key
    is set: `image_column` or `audio_column` when one is (text_column, set by default, is then
    not read), else `text_column`. Media keys (hflip, crop_scale, normalize; max_seconds) go to
    the image resp. audio module only; text-only keys (standardize, clean_text,
    group_by_length) to text only. Raises SFTConfigError naming the keys when both media
    columns are set, or none of the three."""
    media_columns = {
        m: c for m, c in (("image", image_column), ("audio", audio_column)) if c is not None
    }
    if len(media_columns) > 1:
        raise SFTConfigError(
            f"data.image_column, data.audio_column: set at most one, the column "
            f"with the inputs; data.image_column={image_column}, "
            f"data.audio_column={audio_column}"
        )
    chosen = media_columns or ({"text": text_column} if text_column is not None else {})
    if not chosen:
        raise SFTConfigError(
            "data.text_column, data.image_column, data.audio_column: none is "
            "set; name the column with the inputs"
        )
    ((modality, column),) = chosen.items()
    media = {m: {k: kwargs.pop(k) for k in keys if k in kwargs} for m, keys in MEDIA_KEYS.items()}
    if modality == "text":
        return HFDatasetDataModule(path, text_column=column, **kwargs)
    for key in TEXT_ONLY_KEYS:
        kwargs.pop(key, None)
    module = HFImageDataModule if modality == "image" else HFAudioDataModule
    return module(path, column=column, media_dir=media_dir, **media[modality], **kwargs)


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

    def __init__(
        self,
        path: str,
        name: str | None = None,
        experiment: str = "hf_dataset",
        splits: dict | None = None,
        **kwargs,
    ):
        super().__init__(experiment, train_path=str(path), **kwargs)
        self.path = str(path)
        self.config_name = name
        self.splits = dict(splits or {})
        self.label_feature = None

    def _read_splits(self) -> None:
        dataset, content = open_with_content(self.path, self.config_name)
        chosen = choose_splits(dataset, self.splits, self.path)
        for split, split_name in chosen.items():
            part = dataset[split_name]
            source = f"{self.path} (split '{split_name}')"
            self.examples[split] = self._examples(part, source)
            # a local folder: the sha256 of the split's files, as file sources log it; a hub
            # id: datasets' fingerprint of the revision it downloaded
            self.fingerprints[split] = content[split_name] if content else part._fingerprint
        self.label_feature = dataset[chosen["train"]].features[self.label_column]

    def _label_space(self, family, loss_task: str | None):
        """As files, except that a ClassLabel gives the names (in its order) and a float
        column is regression unless data.task or the loss says otherwise."""
        labels = family.label_space(
            self.examples["train"],
            self.label_column,
            self.requested_task,
            loss_task,
            self.label_separator,
            float_column=_is_float(self.label_feature),
        )
        names = class_names(self.label_feature)
        if names and labels.names:  # classification: the ClassLabel's names, in its order
            labels.kind.check_class_names(names, self.examples["train"].source, self.label_column)
            labels.names = list(names)
        return labels

    def _examples(self, part, source: str) -> Examples:
        """Validated texts and labels of one split; ClassLabel ids become their names."""
        frame = label_frame(part, source, ("data.text_column", self.text_column), self.label_column)
        return extract(frame, source, self.text_column, self.label_column, self.clean_text)


class HFMediaMixin:
    """Images or audio from a column with the datasets `Image` / `Audio` feature: read as
    file paths (sft.data.hf_media), then decoded, cached, augmented and featurized like
    image_folder / audio_folder (sft.data.media_module), which the classes below inherit."""

    column_key = ""

    def _examples(self, part, source: str) -> Examples:
        frame = label_frame(
            part, source, (self.column_key, self.text_column), self.label_column, inputs=False
        )
        frame[self.text_column] = media_files(
            part, self.text_column, self.modality, self.media_dir, source, self.column_key
        )
        return extract(frame, source, self.text_column, self.label_column, False)


class HFImageDataModule(HFMediaMixin, HFDatasetDataModule, ImageFolderDataModule):
    """data=hf_dataset with data.image_column: image classification (keys as image_folder's
    hflip, crop_scale, normalize; `media_dir`: where embedded image bytes are written)."""

    column_key = "data.image_column"

    def __init__(self, path: str, column: str, media_dir: str | None, **kwargs):
        super().__init__(path, path_column=column, **kwargs)
        self.media_dir = media_dir


class HFAudioDataModule(HFMediaMixin, HFDatasetDataModule, AudioFolderDataModule):
    """data=hf_dataset with data.audio_column: audio classification (max_seconds as
    audio_folder's; `media_dir`: where embedded audio bytes are written)."""

    column_key = "data.audio_column"

    def __init__(self, path: str, column: str, media_dir: str | None, **kwargs):
        super().__init__(path, path_column=column, **kwargs)
        self.media_dir = media_dir


def label_frame(
    part, source: str, inputs_key: tuple[str, str], label_column: str, inputs: bool = True
):
    """The label column (with the input column when `inputs`) of one split as a DataFrame,
    ClassLabel ids as their names. Raises SFTDataError naming the key of a missing column."""
    columns = list(part.column_names)
    for key, column in (inputs_key, ("data.label_column", label_column)):
        if column not in columns:
            raise SFTDataError(
                f"{key}: no column '{column}' in {source} (columns: {', '.join(columns)})"
            )
    frame = part.select_columns(
        [inputs_key[1], label_column] if inputs else [label_column]
    ).to_pandas()
    names = class_names(part.features[label_column])
    if names:
        frame[label_column] = _id_names(frame[label_column], names, source, label_column)
    return frame


def _id_names(ids: pd.Series, names: list[str], source: str, column: str) -> pd.Series:
    """ClassLabel ids (or lists of them) -> names; -1 (datasets' "no label") stays missing."""

    def name(value, row):
        if value is None or value == -1:
            return None
        if not 0 <= value < len(names):
            raise SFTDataError(
                f"{source} row {row}: label id {value} in column '{column}' is "
                f"not a class of its ClassLabel ({len(names)} names)"
            )
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
    return str(getattr(feature, "dtype", "")).startswith("float") and not hasattr(
        feature, "feature"
    )
