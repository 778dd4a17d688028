"""Secrets stay out of MLflow: a value whose key looks secret is masked before it is logged.

A key looks secret when it contains token, password, passwd, secret, key or credential (any
case, anywhere in the dotted key: `logger.tags.api_key`, `secrets.db`, `model.hf_token`),
unless its last part names a data column (`data.token_column`: the column of a CoNLL file
that holds the words; masked, it logged `***` and sft-reproduce could not rerun the run) or
a count of tokens (`data.generation.max_new_tokens`: a number, masked it was unreadable).
This covers params, tags, the logged config and the overrides; the run folder on local disk
keeps the real values, since a resumed run needs them.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET = re.compile(r"token|password|passwd|secret|key|credential", re.IGNORECASE)


def looks_secret(key: str) -> bool:
    """Whether a (dotted) key names something that should not be logged."""
    if str(key).rsplit(".", 1)[-1].lower().endswith("_column"):
        return False  # a column of the data (data.token_column), never a secret's value
    if str(key).rsplit(".", 1)[-1].lower().endswith("tokens"):
        return False  # a count of tokens (max_new_tokens), never a secret's value
    return bool(SECRET.search(str(key)))


def mask_values(values: dict[str, Any]) -> dict[str, Any]:
    """{key: value} with the values of secret-looking keys replaced by ***."""
    return {k: MASK if looks_secret(k) else v for k, v in values.items()}


def mask_overrides(overrides: list[str]) -> list[str]:
    """Hydra overrides (`+logger.tags.api_key=abc`) with secret-looking values masked."""
    masked = []
    for line in overrides:
        key, sep, _ = str(line).partition("=")
        masked.append(f"{key}{sep}{MASK}" if sep and looks_secret(key) else str(line))
    return masked


def mask_config(node: Any, prefix: str = "") -> Any:
    """A plain config (dicts and lists) with every value under a secret-looking key masked."""
    if isinstance(node, dict):
        return {k: mask_config(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_config(v, prefix) for v in node]
    return MASK if prefix and looks_secret(prefix) else node
