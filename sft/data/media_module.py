"""LightningDataModules for images and audio: a folder per class or a table of file paths and
labels (scikit-learn's digits are written as such a folder: sft.data.digits). Same splits,
labels, tasks and errors as text (TextDataModule); only reading and featurizing differ.

An example's "text" is its file path: the logged MLflow model, `sft-predict` and `sft.load`
take paths the same way the text models take texts.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from sft.data.batching import LengthGroupedBatchSampler
from sft.data.labels import Examples, extract
from sft.data.media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, AudioFeaturizer, ImageFeaturizer
from sft.data.media_cache import media_bases
from sft.data.module import TextDataModule
from sft.data.sources import fingerprint, locate, read_table
from sft.errors import SFTDataError

log = logging.getLogger(__name__)

# A folder holding one of these is a table, as for the datasets imagefolder/audiofolder
# builders: a file_name column (relative to the table) and the label column.
METADATA_FILES = ("metadata.csv", "metadata.jsonl")
METADATA_PATH_COLUMN = "file_name"


class MediaDataset(Dataset):
    """The decoded bases (sft.data.media_cache) and targets of one split, featurized when a
    batch is drawn (augmented on the train split, by seed, epoch and index, so a resumed run
    draws the same crops)."""

    def __init__(self, bases, targets: np.ndarray, featurize, augment: bool, seed: int = 0):
        self.bases = bases
        self.targets = targets
        self.featurize = featurize
        self.augment = augment
        self.seed = seed
        self.sampler: LengthGroupedBatchSampler | None = None  # its epoch seeds augmentation
        self.lengths = np.zeros(len(bases), dtype=np.int64)  # one shape: nothing to group

    def __len__(self) -> int:
        return len(self.bases)

    def __getitem__(self, index: int):
        rng = None
        if self.augment:
            epoch = self.sampler.epoch if self.sampler is not None else 0
            rng = np.random.default_rng([self.seed, epoch, index])
        features = self.featurize.from_base([self.bases[index]], rng)
        return {k: v[0] for k, v in features.items()}, self.targets[index]


def stack_batch(items) -> dict:
    """Stack the model inputs (pixel_values, input_values, attention_mask) and the targets.
    Inputs of different lengths (audio with an attention mask, sft.data.media) are padded
    with zeros on the right to the longest; their zero mask hides the padding."""
    batch = {k: torch.from_numpy(_stack([f[k] for f, _ in items])) for k in items[0][0]}
    batch["labels"] = torch.from_numpy(np.asarray([t for _, t in items]))
    return batch


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    width = max(a.shape[-1] for a in arrays)
    return np.stack(
        [
            np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])])
            if a.shape[-1] < width
            else a
            for a in arrays
        ]
    )


class MediaDataModule(TextDataModule):
    """Base of the image and audio modules: files from a class-per-folder tree or a table."""

    extensions: tuple[str, ...] = ()

    def __init__(self, name: str, train_path: str, path_column: str = "path", **kwargs):
        kwargs.setdefault("group_by_length", False)
        super().__init__(name, train_path, text_column=path_column, **kwargs)
        self.featurizer = None

    # -- reading ------------------------------------------------------------------------

    def _read_split(self, split: str, path: str) -> Examples:
        key = f"data.{split}_path"
        folder = Path(path).expanduser()
        if folder.is_dir():
            metadata = next((folder / n for n in METADATA_FILES if (folder / n).is_file()), None)
            if metadata is None:
                return self._read_folder(folder, key)
            # The imagefolder/audiofolder builders' table: file_name relative to it, labels.
            return self._read_table(split, str(metadata), key, METADATA_PATH_COLUMN)
        return self._read_table(split, path, key, self.text_column)

    def _read_table(self, split: str, path: str, key: str, column: str) -> Examples:
        """A table of file paths (in `column`, relative to the table) and labels."""
        source = locate(path, key)
        if source.member is not None:
            raise SFTDataError(
                f"{key}: a table of file paths cannot be inside an archive "
                f"({source.display}); extract it"
            )
        frame = read_table(source, key)
        examples = extract(frame, source.display, column, self.label_column, False)
        base = source.path.parent
        paths = []
        for row, value in zip(examples.rows, examples.texts):
            file = Path(value).expanduser()
            file = file if file.is_absolute() else base / file  # relative to the table
            if not file.is_file():
                raise SFTDataError(
                    f"{source.display} row {row}: file not found in column '{column}': {file}"
                )
            paths.append(str(file.resolve()))
        examples.texts = paths
        self.fingerprints[split] = _files_fingerprint(paths, fingerprint(source))
        return examples

    def _read_folder(self, folder: Path, key: str) -> Examples:
        """One subfolder per class; files with a known extension, at any depth below it.

        Our own walker, not datasets' imagefolder / audiofolder builders, because they do not
        do this job (measured with datasets 5.2.0, split folders train/ and test/): (1) a file
        in a nested folder (train/cat/sub/1.png) makes imagefolder drop the label column
        altogether, and with drop_labels=False it labels by the immediate parent, so "sub"
        becomes a class; here the class is the top folder; (2) audiofolder fails on WAV,
        FLAC and OGG alike without torchcodec ("To support encoding audio data, please
        install 'torchcodec'"), even when the features say Audio(decode=False). Their
        metadata table (metadata.csv/jsonl with file_name and a label column) is read in
        `_read_split`; data=hf_dataset reads what those builders wrote (sft.data.hf_media).
        """
        classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not classes:
            raise SFTDataError(
                f"{key}: {folder} has no class subfolders (expected "
                f"{folder}/<label>/<file>, or a table of paths and labels)"
            )
        paths, labels = [], []
        for class_dir in classes:
            files = sorted(
                str(f.resolve())
                for f in class_dir.rglob("*")
                if f.is_file() and f.suffix.lower() in self.extensions
            )
            if not files:
                raise SFTDataError(
                    f"{key}: class folder {class_dir} holds no {'/'.join(self.extensions)} files"
                )
            paths += files
            labels += [class_dir.name] * len(files)
        self.fingerprints[key.split(".")[1].removesuffix("_path")] = _files_fingerprint(paths, "")
        return Examples(
            str(folder), paths, pd.Series(labels, dtype=object), np.arange(1, len(paths) + 1)
        )

    # -- featurizing --------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Decode every file once (cached under `cache_dir`, sft.data.media_cache; None: decode
        at every draw), then featurize batch by batch (augmentation differs every epoch);
        each modality's module says how, in `make_featurizer`."""
        self.featurizer = self.make_featurizer(processor)
        self.tokenizer = processor  # saved with the model, like a tokenizer
        for split, examples in self.examples.items():
            bases = media_bases(examples.texts, self.featurizer, cache_dir)
            self.datasets[split] = MediaDataset(
                bases,
                self.targets[split],
                self.featurizer,
                augment=split == "train",
                seed=self.seed,
            )

    def spec_fields(self) -> dict:
        return self.featurizer.spec()

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        """TextDataModule's loader (sharded under DDP); the dataset learns the epoch from its
        sampler, to seed augmentation."""
        loader = super()._loader(split, batch_size, shuffle)
        self.datasets[split].sampler = loader.batch_sampler
        return loader

    def _collate(self):
        """Equally shaped inputs (pixel_values, input_values): stacked, nothing to pad."""
        return stack_batch


class ImageFolderDataModule(MediaDataModule):
    """Image classification from a folder per class, or a table of image paths and labels."""

    modality = "image"
    extensions = IMAGE_EXTENSIONS

    def __init__(
        self,
        name: str,
        train_path: str,
        hflip: bool = False,
        crop_scale: float = 1.0,
        normalize: bool = True,
        **kwargs,
    ):
        super().__init__(name, train_path, **kwargs)
        self.augmentation = {"hflip": hflip, "crop_scale": crop_scale, "normalize": normalize}

    def make_featurizer(self, processor) -> ImageFeaturizer:
        return ImageFeaturizer(processor, **self.augmentation)


class AudioFolderDataModule(MediaDataModule):
    """Audio classification from a folder per class (WAV, FLAC, OGG), or a table of paths."""

    modality = "audio"
    extensions = AUDIO_EXTENSIONS

    def __init__(self, name: str, train_path: str, max_seconds: float = 10.0, **kwargs):
        super().__init__(name, train_path, **kwargs)
        self.max_seconds = max_seconds

    def make_featurizer(self, processor) -> AudioFeaturizer:
        return AudioFeaturizer(processor, self.max_seconds)


def _files_fingerprint(paths: list[str], table: str) -> str:
    """sha256 over the table's hash and each file's name and size (contents are not read:
    an image folder can be large)."""
    digest = hashlib.sha256(table.encode())
    for path in paths:
        digest.update(f"{Path(path).name}|{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()
