"""Encoder-decoder speech-to-text (`AutoModelForSpeechSeq2Seq`: Whisper): the parts that
differ from CTC. The model folder decides: a model whose config is encoder-decoder comes with
a processor (feature extractor + its own tokenizer, sft.data.media.load_processor), and the
data module, the task and prediction take this path for it.

- Features: the extractor's whole window (Whisper pads or cuts every clip to `chunk_length`
  seconds: its encoder takes exactly 2 * max_source_positions frames), cached time first
  [frames, mels] and batched as the model takes them [b, mels, frames].
- Labels: the transcript tokenized with the decoder prompt (<|startoftranscript|><|en|>
  <|transcribe|><|notimestamps|> text <|endoftext|>, the model's language and task), the
  leading decoder-start token dropped (the model shifts labels right and puts it back),
  padded with -100 (what the loss ignores): as transformers' run_speech_recognition_seq2seq.py.
- Evaluation and prediction by generation (`model.generate`, the model's generation config:
  language, task, max_new_tokens, num_beams: sft.model.task_model.set_generation), the text
  decoded without special tokens and normalized as the references are.
"""

from __future__ import annotations

import numpy as np

from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.speech_to_text.features import SpeechFeaturizer
from sft.tasks.speech_to_text.readers import Normalizer

AUTO_CLASS = "AutoModelForSpeechSeq2Seq"


def is_seq2seq(processor) -> bool:
    """Whether `processor` (what sft.data.media.load_processor gave for the model) is an
    encoder-decoder model's processor: a feature extractor with the model's tokenizer."""
    return hasattr(processor, "feature_extractor") and hasattr(processor, "tokenizer")


class WindowFeaturizer(SpeechFeaturizer):
    """A clip's features as a windowed extractor makes them (Whisper: log-mel frames of the
    clip padded with silence, or cut, to `chunk_length` s), time first: [frames, mels]."""

    def features(self, clip: np.ndarray) -> np.ndarray:
        out = self.extractor([clip], sampling_rate=self.sampling_rate, return_tensors="np")
        return np.ascontiguousarray(np.asarray(out[self.key], dtype=np.float32)[0].T)


def window_seconds(extractor) -> float:
    """The extractor's window in seconds (Whisper's `n_samples` / sampling rate)."""
    return float(extractor.n_samples) / float(extractor.sampling_rate)


class Seq2SeqSpeechProcessor:
    """An encoder-decoder speech model's processor (feature extractor + tokenizer), the
    transcript normalization of the data, and the decoder prompt set from the model's
    generation config (`set_prompt`); saved into the model folder as the processor is."""

    def __init__(self, processor, normalizer: Normalizer):
        self.processor = processor
        self.feature_extractor = processor.feature_extractor
        self.tokenizer = processor.tokenizer
        self.normalizer = normalizer

    def set_prompt(self, generation_config) -> None:
        """Make the tokenizer's prefix the model's prompt: its language and task, no
        timestamps."""
        self.tokenizer.set_prefix_tokens(
            language=getattr(generation_config, "language", None),
            task=getattr(generation_config, "task", None),
            predict_timestamps=False,
        )

    def labels(self, transcripts: list[str]) -> np.ndarray:
        """Label ids [b, longest] int64: prompt + transcript + end, the leading decoder-start
        token dropped, padded with -100."""
        rows = self.tokenizer(list(transcripts)).input_ids
        start = self.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
        rows = [row[1:] if row and row[0] == start else row for row in rows]
        labels = np.full((len(rows), max(len(r) for r in rows)), -100, dtype=np.int64)
        for i, row in enumerate(rows):
            labels[i, : len(row)] = row
        return labels

    def collate(self, items: list[dict]) -> dict:
        """A batch: input_features [b, mels, frames] float32, labels (see `labels`), targets
        (the transcripts, for the metrics), paths."""
        import torch  # lazy: the data module imports this module before torch is needed

        values = np.stack([item["features"].T for item in items]).astype(np.float32)
        return {
            "input_features": torch.from_numpy(values),
            "labels": torch.from_numpy(self.labels([item["transcript"] for item in items])),
            "targets": [item["transcript"] for item in items],
            "paths": [item["path"] for item in items],
        }

    def save_pretrained(self, folder) -> None:
        self.processor.save_pretrained(folder)


def prepare(processor, normalizer: Normalizer, max_seconds: float, long_clips: str):
    """The featurizer and processor of an encoder-decoder model's data. SFTConfigError
    naming data.max_seconds when clips may be longer than the model's window (its extractor
    would cut them silently) and data.long_clips does not cut them."""
    window = window_seconds(processor.feature_extractor)
    if max_seconds > window and long_clips != "cut":
        raise SFTConfigError(
            f"data.max_seconds={max_seconds:g}: the model hears at most {window:g} s of a "
            f"clip; set data.max_seconds<={window:g} (or data.long_clips=cut)"
        )
    featurizer = WindowFeaturizer(processor.feature_extractor, min(max_seconds, window))
    return featurizer, Seq2SeqSpeechProcessor(processor, normalizer)


def generate_texts(model, features, tokenizer, normalizer: Normalizer) -> list[str]:
    """Transcripts of `features` [b, mels, frames] by `model.generate` (its generation
    config), decoded without special tokens, normalized as the references were."""
    import torch  # lazy: with the model
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    # Whisper's generate warns on every call about settings it passes itself (suppress
    # tokens, max_length beside max_new_tokens, no attention mask: its encoder takes none).
    hf_logging.set_verbosity_error()
    try:
        with torch.no_grad():
            ids = model.generate(input_features=features)
    finally:
        hf_logging.set_verbosity(verbosity)
    return [normalizer(text) for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def predict_texts(predictor, paths, batch_size: int = 16) -> list[dict]:
    """One {"text": transcript} per audio path, in order: the saved processor's features,
    generation by the saved model (its generation config). SFTDataError for an input that is
    not a list of paths."""
    import torch  # lazy: with the model

    if isinstance(paths, str):
        raise SFTDataError("expected a list of audio paths, got a single string")
    paths = list(paths)
    for i, path in enumerate(paths):
        if not isinstance(path, str):
            raise SFTDataError(f"input {i}: expected an audio path, got {type(path).__name__}")
    processor, spec = predictor.tokenizer, predictor.spec
    if not is_seq2seq(processor):
        raise SFTConfigError(f"{predictor.folder}: no tokenizer saved beside the {AUTO_CLASS}")
    featurizer = WindowFeaturizer(processor.feature_extractor)
    normalizer = Normalizer(bool(spec.get("lowercase", True)), str(spec.get("drop_chars", "")))
    net = predictor.runner.net
    device = next(net.parameters()).device
    records = []
    for start in range(0, len(paths), max(1, int(batch_size))):
        bases = featurizer.base(paths[start : start + max(1, int(batch_size))])
        values = torch.from_numpy(np.stack([b.T for b in bases])).to(device)
        texts = generate_texts(net, values, processor.tokenizer, normalizer)
        records += [{"text": text} for text in texts]
    return records
