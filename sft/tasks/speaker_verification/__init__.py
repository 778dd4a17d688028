"""The speaker-verification family (voiceprints): a transformers `AutoModelForAudioXVector`
model trained with its own additive-margin softmax loss to tell the train speakers apart,
evaluated and used by the cosine of its clip embeddings.

Its parts: `data` (audio folders or tables with a speaker column, or a folder per speaker;
splits carved by speaker; the checks), `trials` (same / different-speaker pairs, equal error
rate, threshold, minimum detection cost), `module` (the task-model module with trials),
`predict` (clips -> embeddings, pairs -> verdicts), `task` (what generic code asks).
Importing this package imports numpy only (the registry reads it without torch).
"""

from __future__ import annotations

from sft.tasks.speaker_verification.task import NAME, SpeakerFamily, SpeakerVerificationTask

SPEAKER_FAMILY = SpeakerFamily()
SPEAKER_VERIFICATION = SpeakerVerificationTask(SPEAKER_FAMILY)
SPEAKER_FAMILY.task = SPEAKER_VERIFICATION

__all__ = [
    "NAME",
    "SPEAKER_FAMILY",
    "SPEAKER_VERIFICATION",
    "SpeakerFamily",
    "SpeakerVerificationTask",
]
