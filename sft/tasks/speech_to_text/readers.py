"""Read audio clips with their transcripts and normalize the transcripts: an audio folder with
a `metadata.csv`/`metadata.jsonl` (🤗 audiofolder's layout: `file_name` relative to it, and a
transcript column), a CSV/TSV/JSONL/Parquet table of paths and transcripts, or a 🤗 dataset
saved with `save_to_disk` (an Audio column and a text column). Errors are one line naming
the file and row.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sft.data.media_module import METADATA_FILES, METADATA_PATH_COLUMN
from sft.data.sources import fingerprint as file_fingerprint
from sft.data.sources import locate, read_table
from sft.errors import SFTDataError

# The split folders of a corpus root (`<root>/train/metadata.csv`, ...), in the audiofolder
# layout: `data.train_path=<root>` finds the others there.
SPLIT_FOLDERS = {"train": ("train",), "val": ("validation", "valid", "val"), "test": ("test",)}


@dataclass
class Utterances:
    """One split: audio file paths, normalized transcripts, and where each came from (the
    source's row numbers, 1-based, and the text errors name it by: `<file> row <n>`).

    `texts` are the paths, as for the other audio modules: an example's input is its file
    (the data report, the logged model's input example and sft-predict take paths)."""

    source: str
    texts: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    places: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index) -> Utterances:
        """The utterances at `index` (positions), in that order."""
        index = [int(i) for i in index]
        return Utterances(
            self.source,
            [self.texts[i] for i in index],
            [self.transcripts[i] for i in index],
            self.rows[index] if index else self.rows[:0],
            [self.places[i] for i in index],
        )

    @property
    def labels(self) -> list[str]:
        """The transcripts (what the data report's label counts would read)."""
        return self.transcripts


@dataclass(frozen=True)
class Normalizer:
    """Transcript normalization, as configured (and logged): `lowercase`, then every
    character of `drop_chars` removed, then runs of whitespace made one space and the ends
    stripped."""

    lowercase: bool = True
    drop_chars: str = ""

    def __call__(self, text: str) -> str:
        if self.lowercase:
            text = text.lower()
        if self.drop_chars:
            text = text.translate({ord(c): None for c in self.drop_chars})
        return re.sub(r"\s+", " ", text).strip()

    def describe(self) -> str:
        drop = repr(self.drop_chars) if self.drop_chars else "none"
        return f"lowercase={self.lowercase}, characters dropped: {drop}, whitespace collapsed"


def normalized(raw, normalize: Normalizer, place: str, column: str) -> str:
    """The transcript `raw` normalized; SFTDataError naming `place` when it is missing or
    empty, or when nothing is left of it once normalized."""
    text = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
    if not text.strip():
        raise SFTDataError(f"{place}: empty transcript in column '{column}'")
    clean = normalize(text)
    if not clean:
        raise SFTDataError(
            f"{place}: the transcript {text.strip()!r} is empty once normalized "
            f"(data.drop_chars={normalize.drop_chars!r})"
        )
    return clean


def read_table_split(
    path: str, key: str, path_column: str, text_column: str, normalize: Normalizer
) -> tuple[Utterances, str]:
    """The utterances of a table (CSV/TSV/JSONL/Parquet, or an audio folder's metadata file):
    file paths relative to the table. Returns them and the table's fingerprint."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        table = next((folder / n for n in METADATA_FILES if (folder / n).is_file()), None)
        if table is None:
            raise SFTDataError(
                f"{key}: {folder} has no {' or '.join(METADATA_FILES)} (columns "
                f"{METADATA_PATH_COLUMN} and {text_column}) and no train/ validation/ test/ "
                f"folders holding one"
            )
        path, path_column = str(table), METADATA_PATH_COLUMN
    source = locate(path, key)
    if source.member is not None:
        raise SFTDataError(f"{key}: a table of audio paths cannot be inside an archive")
    frame = read_table(source, key)
    for column, setting in ((path_column, "path_column"), (text_column, "text_column")):
        if column not in frame.columns:
            raise SFTDataError(
                f"{key}: no column '{column}' in {source.display} (columns: "
                f"{', '.join(map(str, frame.columns))}); set data.{setting}"
            )
    if len(frame) == 0:
        raise SFTDataError(f"{source.display} has a header but no rows")
    found = Utterances(source.display)
    base = source.path.parent
    for row, (value, raw) in enumerate(zip(frame[path_column], frame[text_column]), start=1):
        place = f"{source.display} row {row}"
        file = Path(str(value)).expanduser()
        file = file if file.is_absolute() else base / file
        if not file.is_file():
            raise SFTDataError(f"{place}: audio file not found: {file}")
        found.texts.append(str(file.resolve()))
        found.transcripts.append(normalized(raw, normalize, place, text_column))
        found.places.append(place)
    found.rows = np.arange(1, len(found) + 1, dtype=np.int64)
    return found, files_fingerprint(found.texts, file_fingerprint(source))


def read_saved_split(
    path: str,
    split: str,
    key: str,
    audio_column: str,
    text_column: str,
    normalize: Normalizer,
    media_dir: str | None,
) -> tuple[Utterances, str]:
    """The utterances of split `split` of a 🤗 dataset saved with `save_to_disk`: an Audio
    column (embedded bytes written once under `media_dir`) and a text column."""
    from sft.data.hf_sources import read_split  # lazy: datasets (~1 s) only for this source

    frame = read_split(path, split, key, media_dir)
    source = f"{path} (split '{split}')"
    for column, setting in ((audio_column, "audio_column"), (text_column, "text_column")):
        if column not in frame.columns:
            raise SFTDataError(
                f"{key}: {source} has no column '{column}' (columns: "
                f"{', '.join(map(str, frame.columns))}); set data.{setting}"
            )
    found = Utterances(source)
    for row, (file, raw) in enumerate(zip(frame[audio_column], frame[text_column]), start=1):
        place = f"{source} row {row}"
        found.texts.append(str(file))
        found.transcripts.append(normalized(raw, normalize, place, text_column))
        found.places.append(place)
    found.rows = np.arange(1, len(found) + 1, dtype=np.int64)
    return found, files_fingerprint(found.texts, source)


def split_folder(root: str, split: str) -> str | None:
    """`<root>/<name>` for the first of the split's folder names that holds a metadata
    file (the audiofolder layout train/, validation/, test/), or None."""
    for name in SPLIT_FOLDERS[split]:
        folder = Path(root).expanduser() / name
        if any((folder / m).is_file() for m in METADATA_FILES):
            return str(folder)
    return None


def files_fingerprint(paths: list[str], seed: str) -> str:
    """sha256 over the table's own fingerprint and each audio file's path, size and mtime."""
    digest = hashlib.sha256(seed.encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
