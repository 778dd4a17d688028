"""The image or audio column of a 🤗 dataset (datasets' `Image` / `Audio` feature) as file
paths, for data=hf_dataset with `image_column` / `audio_column` (sft.data.hf_module).

The column is read with `decode=False`: datasets' own Audio decoding needs torchcodec, which
sft does not require; our loaders (sft.data.media: PIL, soundfile) decode instead. A row that
points at a file on disk (a dataset built from paths, a local imagefolder) is that path; a row
that embeds its bytes (what `save_to_disk` and hub Parquet files hold) is written once to
`<media_dir>/<sha256 of the bytes><suffix>`. Every example is then a path, as in image_folder
and audio_folder: the same input the logged MLflow model, `sft-predict`, fold ensembles and
the data report take (they handle strings, not bytes), and the decode cache
(sft.data.media_cache) keys it like any file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sft.errors import SFTConfigError, SFTDataError

BATCH_ROWS = 256  # rows read at a time: a split's bytes are never all in memory at once


def media_files(
    part, column: str, modality: str, media_dir: str | None, source: str, key: str
) -> list[str]:
    """One file path per row of `column` in the split `part` (a datasets.Dataset).

    `modality` "image" needs an Image feature, "audio" an Audio feature. Raises SFTDataError
    naming `key` for a column of another kind, and naming the row for one with neither bytes
    nor an existing file; SFTConfigError naming data.media_dir when bytes must be written and
    it is null.
    """
    from datasets import Audio, Image  # lazy: datasets is imported once a dataset is opened

    feature_type = Image if modality == "image" else Audio
    feature = part.features[column]
    if not isinstance(feature, feature_type):
        raise SFTDataError(
            f"{key}: column '{column}' of {source} is "
            f"{type(feature).__name__}, not a datasets {feature_type.__name__} "
            f"feature"
        )
    rows = part.select_columns([column]).cast_column(column, feature_type(decode=False))
    paths: list[str] = []
    for batch in rows.iter(batch_size=BATCH_ROWS):
        for item in batch[column]:
            paths.append(_as_file(item, media_dir, source, len(paths) + 1, column))
    return paths


def _as_file(item: dict | None, media_dir: str | None, source: str, row: int, column: str) -> str:
    """The path of one row ({"bytes", "path"}): its file, or its bytes written to media_dir."""
    data, path = (item or {}).get("bytes"), (item or {}).get("path")
    if data:
        if media_dir is None:
            raise SFTConfigError(
                f"data.media_dir is null, but {source} embeds its {column} "
                f"bytes; set a folder to write them to"
            )
        suffix = Path(path).suffix.lower() if path else ""
        target = Path(media_dir).expanduser() / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
        if not target.is_file():  # content-addressed: written once, shared by every run
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            partial.write_bytes(data)
            partial.replace(target)  # atomic: a reader never sees half a file
        return str(target.resolve())
    if path and Path(path).expanduser().is_file():
        return str(Path(path).expanduser().resolve())
    where = f"file not found: {path}" if path else "no bytes and no path"
    raise SFTDataError(f"{source} row {row}: column '{column}' has {where}")


def stored_names(part, column: str) -> list[str | None]:
    """The file name each row of an Image/Audio `column` records (its `path` field, without
    the folder), read from the Arrow storage without loading the bytes."""
    field = part.data.column(column).combine_chunks().field("path").to_pylist()
    return [None if p is None else Path(p).name for p in field]
