"""The speech-to-text family: a transcript per clip, from a transformers `AutoModelForCTC`
model (its own CTC loss), or an encoder-decoder `AutoModelForSpeechSeq2Seq` (Whisper: its
own loss, evaluated by generation; `seq2seq`): the model folder decides.

Its parts: `readers` (audio folders with metadata.csv, tables of paths and transcripts, saved
🤗 datasets; transcript normalization), `vocab` (the character vocabulary and its CTC
tokenizer), `features` (per-clip features, cached; padded batches), `data`
(TranscriptDataModule), `decode` (greedy CTC over the real frames; WER and CER), `predict`
(audio paths -> transcripts), `task` (what generic code asks). Importing this package imports
numpy only (the registry reads it without torch).
"""

from __future__ import annotations

from sft.tasks.speech_to_text.task import NAME, SpeechToTextFamily, SpeechToTextTask

SPEECH_TO_TEXT_FAMILY = SpeechToTextFamily()
SPEECH_TO_TEXT = SpeechToTextTask(SPEECH_TO_TEXT_FAMILY)
SPEECH_TO_TEXT_FAMILY.task = SPEECH_TO_TEXT

__all__ = [
    "NAME",
    "SPEECH_TO_TEXT",
    "SPEECH_TO_TEXT_FAMILY",
    "SpeechToTextFamily",
    "SpeechToTextTask",
]
