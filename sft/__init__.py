"""sft: config-driven supervised fine-tuning of pretrained models.

Importing the package is cheap on purpose (no torch, no transformers): `sft-train --help` and
`--cfg job` must answer at once.
"""

__version__ = "0.1.0"
