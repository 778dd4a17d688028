"""What speech-to-text batches are made of: a split's cached features with their label ids
(UtteranceDataset) and the processor saved into the model folder (SpeechProcessor)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from sft.tasks.speech_to_text.readers import Utterances


class SpeechProcessor:
    """The model's feature extractor and the CTC tokenizer built from the data, saved side by
    side into the model folder (what transformers' ASR pipeline loads from it)."""

    def __init__(self, feature_extractor, tokenizer):
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    def save_pretrained(self, folder) -> None:
        self.feature_extractor.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


class UtteranceDataset(Dataset):
    """One split's cached features (`bases`), label ids, transcripts and paths; `lengths`
    (the clips' durations in centiseconds) group batches of similar length."""

    def __init__(self, bases, labels: list, found: Utterances, seconds: np.ndarray):
        self.bases = bases
        self.labels = labels
        self.found = found
        self.lengths = np.round(np.asarray(seconds) * 100).astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {
            "features": self.bases[index],
            "labels": self.labels[index],
            "transcript": self.found.transcripts[index],
            "path": self.found.texts[index],
        }
