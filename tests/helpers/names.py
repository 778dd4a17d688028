"""The automatic registered-model name, restated for tests from its documented rule:
<data.name>-<stem of the data's path>-<first 6 hex digits of the sha256 of its absolute
path>-<task>, lower case, runs of other characters as `-`."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def auto_model_name(data: str, path, task: str) -> str:
    """("text_csv", "/d/train.csv", "multiclass") -> text-csv-train-<6 hex>-multiclass."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:6]
    name = f"{data}-{Path(path).stem}-{digest}-{task}"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
