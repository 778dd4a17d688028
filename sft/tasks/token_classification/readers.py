"""Read tagged sentences (words + one tag per word) from CoNLL-style column files, JSONL and
🤗 datasets saved with `save_to_disk`; errors name the file, the sentence (1-based) and the
token (1-based).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sft.data.sources import DataFile, fingerprint, locate, read_table
from sft.data.sources import _decode as decode
from sft.errors import SFTConfigError, SFTDataError

FORMATS = ("auto", "conll", "jsonl", "hf_dataset")
DOCSTART = "-DOCSTART-"


@dataclass
class Sentences:
    """The tagged sentences of one split: words and tags per sentence, each sentence's number
    (1-based) in its source, and the source's name for error lines."""

    source: str
    words: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, index) -> Sentences:
        """The sentences at `index` (positions), in that order, with their numbers."""
        return Sentences(
            self.source,
            [self.words[i] for i in index],
            [self.tags[i] for i in index],
            [self.numbers[i] for i in index],
        )

    @property
    def texts(self) -> list[str]:
        """Each sentence as `" ".join(words)` (data report, model card, input examples)."""
        return [" ".join(words) for words in self.words]

    @property
    def rows(self) -> np.ndarray:
        """The sentence numbers (the data report's row numbers)."""
        return np.asarray(self.numbers, dtype=np.int64)

    @property
    def labels(self) -> list[list[str]]:
        """The tags per sentence (the task's label_counts reads them)."""
        return self.tags

    def where(self, position: int) -> str:
        """'<source> sentence <n>' for the sentence at `position`: the start of error lines."""
        return f"{self.source} sentence {self.numbers[position]}"


def resolve_format(path: str, format: str) -> str:
    """The reader for `path`: `format` itself, or (auto) hf_dataset for a folder, jsonl for
    .jsonl/.json, conll for any other file. Raises SFTConfigError for an unknown format."""
    if format not in FORMATS:
        raise SFTConfigError(f"data.format={format}: unknown format (use {', '.join(FORMATS)})")
    if format != "auto":
        return format
    if Path(path).expanduser().is_dir():
        return "hf_dataset"
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "conll"


def column_index(column, default: int, key: str) -> int:
    """A CoNLL column given as an int or a string of one ("0", "-1"); `default` for None."""
    if column is None:
        return default
    try:
        return int(column)
    except (TypeError, ValueError):
        raise SFTConfigError(
            f"{key}={column}: a CoNLL column is a number (0 is the first column, -1 the last)"
        ) from None


def read_conll(
    source: DataFile, token_column: int = 0, tag_column: int = -1, key: str = "data.train_path"
) -> Sentences:
    """Sentences of a CoNLL-style file: one token per line, whitespace-separated columns (the
    word in `token_column`, the tag in `tag_column`; negative counts from the end), a blank
    line between sentences; `-DOCSTART-` lines are skipped. Raises SFTDataError for a line
    with too few columns or a file with no sentence."""
    text = decode(source.read_bytes(), source, key)  # UTF-8; a bad byte's line named
    found = Sentences(source.display)
    words: list[str] = []
    tags: list[str] = []

    def close():
        if words:
            found.words.append(list(words))
            found.tags.append(list(tags))
            found.numbers.append(len(found.numbers) + 1)
            words.clear()
            tags.clear()

    for line_number, line in enumerate(text.splitlines(), start=1):
        cells = line.split()
        if not cells:
            close()
            continue
        if cells[0] == DOCSTART:
            close()
            continue
        at = _columns(cells, token_column, tag_column)
        if at is None:
            raise SFTDataError(
                f"{source.display} sentence {len(found.numbers) + 1} token {len(words) + 1} "
                f"(line {line_number}): {len(cells)} column(s), too few for a token column "
                f"({token_column}) and a separate tag column ({tag_column}); columns are "
                f"separated by whitespace, sentences by a blank line"
            )
        words.append(cells[at[0]])
        tags.append(cells[at[1]])
    close()
    if not found.words:
        raise SFTDataError(
            f"{source.display}: no sentences (a CoNLL file has one token and its "
            f"tag per line, a blank line between sentences)"
        )
    return found


def _columns(cells: list[str], token_column: int, tag_column: int) -> tuple[int, int] | None:
    """The positions of the token and tag cells in a line, or None when the line has too few
    cells for two distinct columns (a one-column line with the default 0 and -1)."""
    where = tuple(c if c >= 0 else len(cells) + c for c in (token_column, tag_column))
    if any(not 0 <= c < len(cells) for c in where) or where[0] == where[1]:
        return None
    return where


def read_jsonl(
    source: DataFile, key: str, tokens_key: str = "tokens", tags_key: str = "tags"
) -> Sentences:
    """Sentences of a JSONL file (or a JSON array): one object per sentence with a list of
    words under `tokens_key` and a list of tag names under `tags_key`. Raises SFTDataError
    for a missing key, a value that is not a list of strings, lengths that differ or an
    empty sentence."""
    frame = read_table(source, key)
    for name in (tokens_key, tags_key):
        if name not in frame.columns:
            raise SFTDataError(
                f"{source.display}: no key '{name}' in the records (keys: "
                f"{', '.join(map(str, frame.columns))}); set data.token_column "
                f"/ data.tag_column"
            )
    found = Sentences(source.display)
    for number, (words, tags) in enumerate(zip(frame[tokens_key], frame[tags_key]), start=1):
        where = f"{source.display} sentence {number}"
        found.words.append(_strings(words, where, tokens_key, "words"))
        found.tags.append(_strings(tags, where, tags_key, "tag names"))
        found.numbers.append(number)
    return found


def _strings(values, where: str, name: str, what: str) -> list[str]:
    """`values` as a list of strings, or SFTDataError naming the sentence and the token."""
    if isinstance(values, float) and values != values:  # pandas' NaN: a record without it
        raise SFTDataError(f"{where}: the record has no '{name}'")
    if not isinstance(values, (list, tuple)):
        raise SFTDataError(f"{where}: '{name}' is {type(values).__name__}, not a list of {what}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise SFTDataError(
                f"{where} token {i + 1}: '{name}' holds {value!r}, not a string "
                f"(JSONL {what} are strings; for tag ids use a 🤗 dataset with a "
                f"ClassLabel feature, data.format=hf_dataset)"
            )
    return list(values)


def read_hf_dataset(
    path: str,
    key: str,
    names: tuple[str, ...] = ("train",),
    tokens_column: str = "tokens",
    tags_column: str | None = None,
    implicit: bool = False,
) -> Sentences | None:
    """Sentences of a dataset saved with `save_to_disk`: its first split named in `names`,
    else (unless `implicit`) its only split. `implicit` (a validation or test split looked
    for in the train dataset): None when it has none of `names`.

    The tag column holds tag names, or ids of a `Sequence(ClassLabel)` feature mapped to
    names through it; `tags_column` None takes the only such ClassLabel column, else `tags`.
    Raises SFTDataError for a missing split or column, or ids without ClassLabel names.
    """
    from sft.data.hf_sources import class_names, open_dataset  # lazy: imports datasets (~1 s)

    dataset = open_dataset(path, None, key=key)
    available = list(dataset.keys())
    name = next((n for n in names if n in available), None)
    if name is None and implicit:
        return None
    if name is None and len(available) == 1:
        name = available[0]
    if name is None:
        raise SFTDataError(
            f"{key}: {path} has no split '{names[0]}' (splits: {', '.join(available)})"
        )
    part = dataset[name]
    features = part.features
    if tags_column is None:
        labelled = [c for c, f in features.items() if class_names(f) and hasattr(f, "feature")]
        tags_column = labelled[0] if len(labelled) == 1 else "tags"
    source = f"{path} (split '{name}')"
    for column in (tokens_column, tags_column):
        if column not in features:
            raise SFTDataError(
                f"{key}: {source} has no column '{column}' (columns: "
                f"{', '.join(features)}); set data.token_column / "
                f"data.tag_column"
            )
    names = class_names(features[tags_column])
    found = Sentences(source)
    for number, (words, tags) in enumerate(zip(part[tokens_column], part[tags_column]), 1):
        where = f"{source} sentence {number}"
        if names:
            tags = [names[t] if isinstance(t, int) and 0 <= t < len(names) else t for t in tags]
        found.words.append(_strings(list(words), where, tokens_column, "words"))
        found.tags.append(_strings(list(tags), where, tags_column, "tag names"))
        found.numbers.append(number)
    return found


def read_sentences(
    path: str,
    key: str,
    format: str = "auto",
    token_column=None,
    tag_column=None,
    names: tuple[str, ...] = ("train",),
    implicit: bool = False,
) -> tuple[Sentences | None, str]:
    """The sentences at `path` (config key `key`) in `format`, and a fingerprint of the
    source (sha256 of a file; of a saved dataset's state files). `names` and `implicit`
    choose a saved dataset's split (read_hf_dataset; None when an implicit one is absent).
    Checks that every sentence has words and one tag per word (SFTDataError naming the
    file and the sentence)."""
    kind = resolve_format(str(path), format)
    if kind == "hf_dataset":
        found = read_hf_dataset(
            str(path),
            key,
            names,
            str(token_column or "tokens"),
            None if tag_column is None else str(tag_column),
            implicit,
        )
        digest = _dataset_fingerprint(str(path))
    else:
        source = locate(str(path), key)
        if kind == "conll":
            found = read_conll(
                source,
                column_index(token_column, 0, "data.token_column"),
                column_index(tag_column, -1, "data.tag_column"),
                key,
            )
        else:
            found = read_jsonl(
                source, key, str(token_column or "tokens"), str(tag_column or "tags")
            )
        digest = fingerprint(source)
    for i, (words, tags) in enumerate(zip(found.words, found.tags) if found else ()):
        if not words:
            raise SFTDataError(f"{found.where(i)}: no words (an empty sentence)")
        if len(words) != len(tags):
            raise SFTDataError(
                f"{found.where(i)}: {len(words)} words but {len(tags)} tags (one tag per word)"
            )
    return found, digest


def _dataset_fingerprint(path: str) -> str:
    """The sha256 of a saved dataset's state files (they record its Arrow files' fingerprints)."""
    digest = hashlib.sha256()
    for state in sorted(Path(path).expanduser().rglob("*.json")):
        digest.update(state.read_bytes())
    return digest.hexdigest()
