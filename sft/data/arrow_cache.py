"""One cached `datasets.Dataset.map`: the tokenized texts and the decoded media are each an
Arrow file under `outputs/cache/` named by a fingerprint of everything that shapes them.

datasets writes the file (temp + rename) and reloads it when the fingerprint matches; we add
the checks it lacks, so that a damaged entry is rebuilt, never used: the file must record our
fingerprint (not another entry's file under this name) and hold every row (a cut at a record
batch still reads). Arrow files carry no checksum: bytes that rot but still parse are not
caught (sft.data.tokenize's docstring has the measurements that chose this cache).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def map_cached(
    source, function: Callable[[dict], dict], key: str, entry: Path | None, what: str, **options
):
    """`source.map(function, batched=True, new_fingerprint=key, **options)`, cached in the
    Arrow file `entry` (None: in memory only). Returns (the mapped Dataset, whether
    `function` ran: False when the entry on disk was used). `what` names the cache in the
    warning a damaged entry gets before it is rebuilt."""
    calls = []

    def counted(batch: dict) -> dict:
        calls.append(1)
        return function(batch)

    procs = int(options.pop("num_proc", 1) or 1)
    options = {"batched": True, "new_fingerprint": key, **options}
    if entry is None:
        return source.map(counted, keep_in_memory=True, num_proc=_procs(procs), **options), True
    mapped = None
    if entry.is_file():
        try:
            mapped = source.map(counted, cache_file_name=str(entry), **options)
            check_entry(mapped, key, len(source))
        except Exception as err:  # a damaged entry of any kind is rebuilt, never used
            log.warning("%s cache entry %s is unreadable (%s); rebuilding it", what, entry, err)
            mapped = None
            entry.unlink(missing_ok=True)
            calls.clear()
    if mapped is None:
        if procs > 1:
            return _map_in_processes(source, function, entry, procs, options), True
        mapped = source.map(
            counted, cache_file_name=str(entry), load_from_cache_file=False, **options
        )
    return mapped, bool(calls)


def _procs(procs: int) -> int | None:
    return procs if procs > 1 else None  # datasets: None runs in this process


def _map_in_processes(source, function, entry: Path, procs: int, options: dict):
    """`function` over `source` in `procs` processes (datasets writes one shard each), then
    the shards copied into the one file `entry` under the entry's fingerprint: the entry a
    one-process map would have written, read back by any later run whatever its num_proc."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=entry.parent, prefix=".shards-") as shards:
        parts = source.map(
            function,
            num_proc=procs,
            cache_file_name=str(Path(shards) / "part.arrow"),
            load_from_cache_file=False,
            **{**options, "new_fingerprint": f"{options['new_fingerprint']}-parts"},
        )
        options = {k: v for k, v in options.items() if k != "remove_columns"}
        # the identity map: a copy of the shards' rows into `entry` (Arrow batches, no Python)
        return parts.map(cache_file_name=str(entry), load_from_cache_file=False, **options)


def check_entry(mapped, key: str, rows: int) -> None:
    """Raise ValueError unless `mapped` is the entry `key` with `rows` rows."""
    metadata = json.loads((mapped.data.schema.metadata or {}).get(b"huggingface", b"{}"))
    if metadata.get("fingerprint") != key:
        raise ValueError(f"it records fingerprint {metadata.get('fingerprint')!r}, not {key!r}")
    if mapped.num_rows != rows:
        raise ValueError(f"it holds {mapped.num_rows} rows, not {rows}")
