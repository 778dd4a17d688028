"""sft: config-driven supervised fine-tuning of pretrained models.

Importing the package is cheap on purpose (no torch, no transformers): `sft-train --help` and
`--cfg job` must answer at once. `sft.load(folder)` (a fine-tuned model, ready to predict) is
imported on first use.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {"load": "sft.inference.predictor", "Predictor": "sft.inference.predictor"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sft' has no attribute {name!r}")


__all__ = ["load", "Predictor", "__version__"]
