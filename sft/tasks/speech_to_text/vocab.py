"""The character vocabulary of a CTC model, built from the training transcripts, as a
transformers `Wav2Vec2CTCTokenizer` (saved with the model: transformers' ASR pipeline and
`AutoTokenizer` load it from the model folder), and transcripts -> label ids.

Layout, as transformers' CTC fine-tuning recipe (run_speech_recognition_ctc.py): `[PAD]` is
the CTC blank (id 0: the model's `pad_token_id`), `[UNK]` stands for a character the training
transcripts never had, `|` is the word delimiter (a space in the transcript), then every other
character of the training transcripts in sorted order. Also greedy CTC decoding (ids ->
text), in numpy: an exported ONNX model transcribes without torch.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PAD = "[PAD]"  # also the CTC blank
UNK = "[UNK]"
DELIMITER = "|"  # a space between words


def build_vocabulary(transcripts: list[str]) -> dict[str, int]:
    """{token: id} from the (normalized) training transcripts: [PAD] 0, [UNK] 1, | 2, then
    the other characters sorted. A literal `|` in a transcript would be read as a space:
    drop it (data.drop_chars)."""
    chars = sorted({c for text in transcripts for c in text} - {" ", DELIMITER})
    tokens = [PAD, UNK, DELIMITER, *chars]
    return {token: i for i, token in enumerate(tokens)}


def make_tokenizer(vocab: dict[str, int]):
    """A Wav2Vec2CTCTokenizer of `vocab` (no BOS/EOS: they would be tokens the model never
    emits and that CTC decoding would have to skip)."""
    from transformers import Wav2Vec2CTCTokenizer  # lazy: transformers with the model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocab.json"
        path.write_text(json.dumps(vocab, ensure_ascii=False))
        return Wav2Vec2CTCTokenizer(
            str(path),
            unk_token=UNK,
            pad_token=PAD,
            word_delimiter_token=DELIMITER,
            bos_token=None,
            eos_token=None,
            do_lower_case=False,
        )


def token_list(tokenizer) -> list[str]:
    """The tokenizer's tokens in id order (its vocabulary and any added tokens)."""
    vocab = tokenizer.get_vocab()
    return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


def encode_transcripts(transcripts: list[str], vocab: dict[str, int]) -> tuple[list, dict]:
    """Label ids (int64 arrays) of each transcript, character by character (a space is the
    delimiter); characters outside `vocab` become [UNK]. Returns the ids and {character:
    count} of those outside it."""
    unk = vocab[UNK]
    unknown: dict[str, int] = {}
    labels = []
    for text in transcripts:
        ids = []
        for char in text:
            token = DELIMITER if char == " " else char
            if token not in vocab:
                unknown[char] = unknown.get(char, 0) + 1
            ids.append(vocab.get(token, unk))
        labels.append(np.asarray(ids, dtype=np.int64))
    return labels, unknown


def warn_unknown(split: str, source: str, unknown: dict[str, int]) -> None:
    """One warning for a split's characters outside the vocabulary (mapped to [UNK]: the
    model can never write them, so they count as errors)."""
    if not unknown:
        return
    shown = ", ".join(f"{c!r} x{n}" for c, n in sorted(unknown.items(), key=lambda i: -i[1]))
    log.warning(
        "%s split (%s): %d %s outside the training vocabulary, mapped to %s: %s",
        split,
        source,
        sum(unknown.values()),
        "character" if sum(unknown.values()) == 1 else "characters",
        UNK,
        shown,
    )


def ctc_frames_needed(labels: np.ndarray) -> int:
    """The fewest output frames CTC can align `labels` to: one per label, plus a blank
    between each pair of equal neighbours ("ll" needs l, blank, l)."""
    labels = np.asarray(labels)
    return int(len(labels) + np.count_nonzero(labels[1:] == labels[:-1]))


def greedy_ids(logits, lengths, blank: int) -> list[list[int]]:
    """Greedy CTC over each row's first `lengths[i]` frames of `logits` [b, frames, vocab]
    (numpy, or torch on the CPU): the token ids left once repeats are merged and blanks
    removed. Numpy, so an ONNX model transcribes without torch."""
    best = np.asarray(logits.argmax(-1))
    out = []
    for row, length in zip(best, np.asarray(lengths).tolist()):
        row = row[: max(int(length), 0)]
        kept = row[np.r_[True, row[1:] != row[:-1]]] if len(row) else row
        out.append([int(i) for i in kept if int(i) != blank])
    return out


def ids_to_text(ids: list[int], tokens: list[str]) -> str:
    """Token ids -> the transcript: `|` is a space; special tokens ([UNK]) are written as
    they are (they count as errors); spaces collapsed and stripped."""
    text = "".join(
        " " if tokens[i] == DELIMITER else tokens[i] for i in ids if 0 <= i < len(tokens)
    )
    return " ".join(text.split())
