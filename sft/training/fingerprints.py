"""What a run's numbers depend on beyond its config: the bytes of its data files, the label ->
id map and task the data gives, the head's width, and the model folder. A run records them
at its start (`checkpoints/fingerprints.json`, beside `run_config.yaml`); `resume` computes
them again and refuses to continue a run whose inputs changed (sft.training.resume).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig

from sft.cache import cached
from sft.model.backbone import resolve_model_path

FINGERPRINTS = "fingerprints.json"
# Model folders hold weights of up to tens of GB. benchmarks/resume_checks.py, a 418 MB
# BERT-base folder: sha256 of every byte 0.44-0.51 s, 7.5-17x loading the model (0.03-0.06 s:
# safetensors are memory-mapped), i.e. ~20 s per start of a 7B model's run. So files up to
# WHOLE bytes (config, tokenizer, vocab) are hashed whole and larger ones (weights) by size and
# SAMPLE bytes at their start, middle and end (0.002 s): a different checkpoint of the same
# architecture differs there. An in-place edit of a few weights in between is not seen, and
# does not change a resumed run: its checkpoint holds every weight.
WHOLE = 16 << 20
SAMPLE = 1 << 20


def run_fingerprints(cfg: DictConfig, datamodule) -> dict:
    """The run's inputs as JSON-ready values (sha256 hex digests, label names in id order).

    `datamodule` has been `load()`ed: its files are read and its labels settled."""
    labels = datamodule.labels
    name = str(cfg.model.name_or_path)
    return {
        "data": datamodule.data_fingerprint(),
        "task": labels.task,
        "labels": [str(n) for n in labels.names],
        "num_outputs": labels.num_outputs,
        "model": {"name_or_path": name, "sha256": model_fingerprint(name)},
    }


def save_fingerprints(fingerprints: dict, checkpoint_dir: Path) -> None:
    """Write `fingerprints.json` into the run's checkpoint folder (local, like the config)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    (checkpoint_dir / FINGERPRINTS).write_text(json.dumps(fingerprints, indent=1) + "\n")


def load_fingerprints(checkpoint_dir: Path) -> dict | None:
    """The fingerprints a run recorded at its start; None for a run started before sft kept
    them (resume then compares what its tags hold)."""
    path = checkpoint_dir / FINGERPRINTS
    return json.loads(path.read_text()) if path.is_file() else None


def model_fingerprint(name_or_path: str) -> str | None:
    """sha256 over the model folder's files (names, sizes, contents; large files sampled, see
    WHOLE); a hub id's cached snapshot folder; None when no folder is found (a hub id not in
    the cache: the id alone then identifies it)."""
    folder = _model_folder(name_or_path)
    if folder is None:
        return None
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    version = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return cached("model_sha256", version, lambda: _hash_files(folder, files))


def _hash_files(folder: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}|{size}|".encode())
        with path.open("rb") as handle:
            if size <= WHOLE:
                digest.update(hashlib.sha256(handle.read()).digest())
                continue
            for offset in (0, (size - SAMPLE) // 2, size - SAMPLE):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE))
    return digest.hexdigest()


def _model_folder(name_or_path: str) -> Path | None:
    folder = Path(resolve_model_path(name_or_path)).expanduser()
    if folder.is_dir():
        return folder
    try:
        from huggingface_hub import try_to_load_from_cache  # why: only hub ids need it

        found = try_to_load_from_cache(name_or_path, "config.json")
    except Exception:  # not a valid hub id either: loading the model names the problem
        return None
    return Path(found).parent if isinstance(found, str) else None
