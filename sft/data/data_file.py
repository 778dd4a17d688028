"""A data file sft reads (a plain path or a zip member), and the checks every reader shares:
UTF-8 with the line of a bad byte, column names that occur once."""

from __future__ import annotations

import zipfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sft.errors import SFTDataError


@dataclass(frozen=True)
class DataFile:
    """A readable data file: a plain path, or a member of a zip archive."""

    path: Path
    member: str | None = None

    @property
    def display(self) -> str:
        return f"{self.path}/{self.member}" if self.member else str(self.path)

    @property
    def suffix(self) -> str:
        return Path(self.member or self.path.name).suffix.lower()

    @property
    def version(self) -> tuple:
        """Changes when the file changes: the key of the in-process caches."""
        stat = self.path.stat()
        return (str(self.path), self.member, stat.st_mtime_ns, stat.st_size)

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)

    @contextmanager
    def open(self):
        """The file's bytes as a binary stream (a zip member's, decompressed as read)."""
        if self.member is None:
            with self.path.open("rb") as stream:
                yield stream
            return
        with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
            yield stream


def _check_unique(
    names: list[str],
    source: DataFile,
    key: str,
    where: str = "",
    noun: str = "column",
    skip_empty: bool = True,
) -> None:
    """SFTDataError naming the first column (JSON: key) that occurs twice; empty names, as a
    trailing comma of a CSV header leaves, become pandas' `Unnamed: n` columns: skipped."""
    counts = Counter(str(n) for n in names if str(n).strip() or not skip_empty)
    twice = next((n for n in counts if counts[n] > 1), None)
    if twice is not None:
        raise SFTDataError(
            f"{key}: {source.display}{where}: {noun} '{twice}' occurs "
            f"{counts[twice]} times ({noun}s: {', '.join(map(str, names))}); "
            f"rename or drop all but one"
        )


def _decode(raw: bytes, source: DataFile, key: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SFTDataError(
            f"{key}: {source.display} line {line}: not valid UTF-8 "
            f"(byte 0x{raw[err.start]:02x}); save the file as UTF-8"
        ) from None
