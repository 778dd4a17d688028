"""In-process caches for what the jobs of one sweep share: data files, tokenizers, pretrained
weights and token ids. The basic Hydra launcher runs a sweep's jobs one after another in one
process; with these, only the first job pays for reading, tokenizing and loading.

`STATS` counts hits and misses per kind (`weights.miss`, `weights.hit`, ...); runs log them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

STATS: Counter = Counter()
_STORE: dict[tuple[str, Hashable], Any] = {}


def cached(
    kind: str, key: Hashable, build: Callable[[], Any], copy: Callable[[Any], Any] | None = None
) -> Any:
    """`build()` once per (kind, key) in this process; `copy` hands out a private copy."""
    slot = (kind, key)
    if slot in _STORE:
        STATS[f"{kind}.hit"] += 1
    else:
        STATS[f"{kind}.miss"] += 1
        _STORE[slot] = build()
    value = _STORE[slot]
    return copy(value) if copy is not None else value


def clear() -> None:
    """Forget everything cached (tests use it to start cold)."""
    _STORE.clear()
    STATS.clear()
