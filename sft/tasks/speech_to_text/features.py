"""Clips -> the model's input features, computed once per clip and cached (sft.data.media_cache:
in memory and as a memory-mapped Arrow file), and batches of them padded with an attention
mask.

A clip's features are its feature extractor's output on the clip alone, cut to the frames
that carry audio: log-mel frames [frames, mel bins] (Parakeet, and any extractor whose model
input is `input_features` with time first), or the normalized waveform [samples] (wav2vec2,
HuBERT: `input_values`). Batching pads them with zeros and marks the real frames in
`attention_mask`; an extractor that normalizes over the real frames only (both above, with an
attention mask) gives the same features for a clip alone and in a batch, so a transcript does
not depend on what it was batched with.
"""

from __future__ import annotations

import numpy as np

from sft.data.media import load_audio
from sft.errors import SFTConfigError, SFTDataError

LONG_CLIPS = ("drop", "cut")


class SpeechFeaturizer:
    """Audio paths -> per-clip model input arrays through `extractor` (a transformers
    feature extractor), at its sampling rate; clips cut to `max_seconds` when given (None:
    whole). `key`: the model input's name. What sft.data.media_cache caches (`base`)."""

    modality = "audio"

    def __init__(self, extractor, max_seconds: float | None = None):
        rate = getattr(extractor, "sampling_rate", None)
        if not rate:
            raise SFTConfigError(
                f"model.name_or_path: {type(extractor).__name__} has no sampling_rate: not an "
                f"audio feature extractor"
            )
        self.extractor = extractor
        self.sampling_rate = int(rate)
        self.max_seconds = max_seconds
        self.samples = None if max_seconds is None else round(max_seconds * self.sampling_rate)
        self.key = extractor.model_input_names[0]

    def cache_spec(self) -> str:
        """What shapes a clip's features (the media cache's key): the extractor's settings
        and the cut."""
        return f"speech|{type(self.extractor).__name__}|{self.extractor.to_json_string()}|" + str(
            self.samples
        )

    def base(self, paths: list[str]) -> list[np.ndarray]:
        """Each clip's features at its real frames (float32; see the module's doc)."""
        return [
            self.features(load_audio(path, self.sampling_rate)[: self.samples]) for path in paths
        ]

    def features(self, clip: np.ndarray) -> np.ndarray:
        """The features of one clip (float32 samples at the sampling rate)."""
        out = self.extractor(
            [clip],
            sampling_rate=self.sampling_rate,
            return_attention_mask=True,
            return_tensors="np",
        )
        values = np.asarray(out[self.key], dtype=np.float32)[0]
        mask = out.get("attention_mask")
        if mask is not None:
            values = values[: int(np.asarray(mask)[0].sum())]
        return np.ascontiguousarray(values)


def durations(utterances, key: str) -> np.ndarray:
    """Each clip's length in seconds, read from its header (soundfile.info: nothing is
    decoded). SFTDataError naming the row and the file for one that cannot be read."""
    import soundfile  # lazy: only audio runs load libsndfile

    seconds = np.zeros(len(utterances), dtype=np.float64)
    for i, (path, place) in enumerate(zip(utterances.texts, utterances.places)):
        try:
            info = soundfile.info(path)
        except (soundfile.SoundFileError, RuntimeError) as err:
            reason = getattr(err, "error_string", None) or str(err).splitlines()[0]
            raise SFTDataError(f"{place}: {path}: not a readable audio file ({reason})") from None
        if info.frames == 0:
            raise SFTDataError(f"{place}: {path}: the audio file holds no samples")
        seconds[i] = info.frames / info.samplerate
    return seconds


def pad_batch(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip arrays [time, ...] -> zero-padded [batch, longest, ...] float32 and the
    attention mask [batch, longest] int64 (1: a real frame)."""
    longest = max(len(a) for a in arrays)
    values = np.zeros((len(arrays), longest, *arrays[0].shape[1:]), dtype=np.float32)
    mask = np.zeros((len(arrays), longest), dtype=np.int64)
    for i, array in enumerate(arrays):
        values[i, : len(array)] = array
        mask[i, : len(array)] = 1
    return values, mask


def collate(items: list[dict], key: str) -> dict:
    """A batch: the model input `key` [b, longest, ...] float32 and attention_mask [b,
    longest] int64, labels [b, longest transcript] int64 padded with -100 (what the CTC loss
    ignores), targets (the transcripts, for the metrics), paths."""
    import torch  # lazy: the data module imports this module before torch is needed

    values, mask = pad_batch([item["features"] for item in items])
    width = max(len(item["labels"]) for item in items)
    labels = np.full((len(items), width), -100, dtype=np.int64)
    for i, item in enumerate(items):
        labels[i, : len(item["labels"])] = item["labels"]
    return {
        key: torch.from_numpy(values),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(labels),
        "targets": [item["transcript"] for item in items],
        "paths": [item["path"] for item in items],
    }
