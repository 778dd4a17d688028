"""Everything before the batch: sources, validation, labels, tokenization, batching; images
and audio (media, media_module).

The data modules are imported lazily so that the light modules here (sources, labels, media)
do not pull in Lightning.
"""

import importlib

MODULES = {
    "TextDataModule": "sft.data.module",
    "ImageFolderDataModule": "sft.data.media_module",
    "AudioFolderDataModule": "sft.data.media_module",
    "DigitsDataModule": "sft.data.digits",
    "HFDatasetDataModule": "sft.data.hf_module",
    "hf_dataset": "sft.data.hf_module",
}


def __getattr__(name):
    if name in MODULES:
        return getattr(importlib.import_module(MODULES[name]), name)
    raise AttributeError(name)


__all__ = list(MODULES)
