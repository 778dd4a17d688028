"""The speech-to-text family and its one task: a transcript per clip, from a whole transformers
CTC model (`AutoModelForCTC`: wav2vec2, HuBERT, Wav2Vec2-BERT, Parakeet) with its own CTC
loss, or an encoder-decoder (`AutoModelForSpeechSeq2Seq`: Whisper; seq2seq.py) when the
model's config is one; what generic code asks of it (sft.tasks.base.Task and the task-model
members of sft.tasks.task_model;
what every task-model family shares is in the bases of sft.tasks.one_task).

Reading this module imports numpy only: decoding, metrics and prediction import torch and
transformers when a run or a predictor asks for them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.one_task import OneTaskFamily, TaskModelTask

NAME = "speech_to_text"


class SpeechToTextFamily(OneTaskFamily):
    """The speech-to-text family: its label space has no labels (the targets are
    transcripts, and the vocabulary is built by the data module). Its Task is set by
    sft/tasks/speech_to_text/__init__.py."""

    name = NAME

    def label_space(
        self,
        train,
        label_column: str = "transcription",
        task: str = NAME,
        loss_task=None,
        separator: str = ",",
        **hints,
    ):
        """A label space without labels (the vocabulary is the data module's)."""
        from sft.tasks.sequence.labels import LabelSpace  # light: numpy and pandas

        return LabelSpace(NAME, [], kind=self.task)


class SpeechToTextTask(TaskModelTask):
    """A transcript per clip: batches hold features and CTC label ids, the model's own CTC
    loss trains it, greedy CTC over the frames that carry audio turns outputs into text
    (decode.py), WER and CER score it, a served record is {"text": transcript}."""

    name = NAME
    auto_class = "AutoModelForCTC"
    # The batch holds one of the first two (log-mel `input_features` or the waveform's
    # `input_values`, as the feature extractor names it) and the attention mask.
    model_inputs = ("input_features", "input_values", "attention_mask")
    metrics = ("wer", "cer")
    per_class = False
    monitor = ("val/cer", "min")
    # Folds, ensembles, calibration and decisions are for labels. ONNX: the model with its
    # output lengths (predict.onnx_graph); wav2vec2 and HuBERT export, Parakeet's attention
    # does not (torch 2.13's exporter), which sft-export refuses in one line.
    features = frozenset({"onnx"})
    decision_key = "text"
    pipeline_tags: ClassVar[dict[str, str]] = {"audio": "automatic-speech-recognition"}
    loss_problem = NAME  # unused: the model's own CTC loss trains (sft.tasks.checks)
    # The worst-N table of the test split (sft.tasks.task_model): rows sorted by this, worst
    # first.
    worst_by = "cer"
    loss_words = "its model's own CTC loss"
    predictions_refusal = "decodes with batch_predictions"
    records_from = "audio"

    # -- configuration and data ---------------------------------------------------------------

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        return np.zeros(num_labels, dtype=np.int64)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """The split's words and how often each occurs, most first (at most 30: the data
        report's label line); `labels` are the normalized transcripts."""
        from collections import Counter  # here: only the data report asks

        return dict(Counter(w for text in labels for w in text.split()).most_common(30))

    # -- the LightningModule ------------------------------------------------------------------

    def model_settings(self, datamodule) -> dict:
        """What load_task_model sets in the model's config from the data: the vocabulary's
        size and the blank ([PAD]) id; no class labels."""
        from sft.tasks.speech_to_text.vocab import PAD  # light

        if datamodule.seq2seq:  # the model's own tokenizer and vocabulary (seq2seq.py)
            from sft.tasks.speech_to_text.seq2seq import AUTO_CLASS  # light

            return {"label_names": [], "auto_class_name": AUTO_CLASS}
        return {
            "label_names": [],
            "settings": {
                "vocab_size": len(datamodule.vocab),
                "pad_token_id": datamodule.vocab[PAD],
            },
        }

    def module(self, cfg, datamodule):
        """The task-model module (sft.tasks.task_model), after checking that every clip gives
        a CTC model enough output frames for its transcript; an encoder-decoder model's
        labels take its decoder prompt (language, task: its generation config)."""
        from sft.tasks.task_model import build_task_module  # lazy: torch and Lightning

        module = build_task_module(cfg, datamodule)
        if datamodule.seq2seq:
            datamodule.processor.set_prompt(module.backbone.encoder.generation_config)
        else:
            check_frames(module.backbone.encoder, datamodule)
        return module

    def batch_predictions(self, outputs, batch: dict, processor, model) -> list[str]:
        """The batch's transcripts: greedy CTC over each clip's real frames (decode.py), or
        an encoder-decoder `model`'s generation (seq2seq.py)."""
        from sft.tasks.speech_to_text.decode import transcribe  # lazy: torch
        from sft.tasks.speech_to_text.seq2seq import generate_texts
        from sft.tasks.speech_to_text.vocab import token_list

        tokenizer = processor.tokenizer
        if model.config.is_encoder_decoder:
            features = batch["input_features"]
            return generate_texts(model, features, tokenizer, processor.normalizer)
        return transcribe(
            model,
            outputs.logits.detach(),
            batch.get("attention_mask"),
            token_list(tokenizer),
            tokenizer.pad_token_id,
        )

    def metric_targets(self, targets):
        return list(targets)  # the normalized reference transcripts

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """SpeechErrorRates: WER and CER over the split."""
        from sft.tasks.speech_to_text.decode import SpeechErrorRates  # lazy: torch

        return SpeechErrorRates()

    def epoch_values(self, summary, per_class):
        """{wer, cer}; no class report."""
        return summary.compute(), {}

    def class_names(self, label_names: list[str]) -> list[str]:
        return []

    def example_rows(self, preds, targets, batch: dict) -> list[dict]:
        """Table rows of a test batch (path, reference, hypothesis, cer): the worst-N table."""
        from sft.tasks.speech_to_text.decode import utterance_rows  # lazy: torchmetrics

        return utterance_rows(preds, targets, batch["paths"])

    # -- the model folder and prediction ------------------------------------------------------

    def id2label(self, names: list[str]) -> None:
        return None  # the vocabulary is the tokenizer's (saved beside the model)

    def model_spec(self, module) -> dict:
        """An encoder-decoder model's folder names its Auto class (the CTC one is the
        task's)."""
        from sft.tasks.speech_to_text.seq2seq import AUTO_CLASS  # light

        seq2seq = module.backbone.encoder.config.is_encoder_decoder
        return {"auto_class": AUTO_CLASS} if seq2seq else {}

    def predict(
        self, predictor, inputs, batch_size: int = 16, progress: bool = False
    ) -> list[dict]:
        """One {"text": transcript} per audio path (predict.py; seq2seq.py generates for an
        encoder-decoder model)."""
        from sft.tasks.speech_to_text import predict, seq2seq  # lazy: torch

        if predictor.spec.get("auto_class") == seq2seq.AUTO_CLASS:
            return seq2seq.predict_texts(predictor, inputs, batch_size)
        return predict.predict_texts(predictor, inputs, batch_size)

    def raw_outputs(self, predictor, inputs, batch_size: int = 16, progress: bool = False):
        """The logits of every real output frame [frames of all clips, vocab]: what
        sft-export format=folder compares between a model and its copy (CTC models)."""
        from sft.tasks.speech_to_text.predict import raw_outputs  # lazy: torch

        refuse_seq2seq(predictor, "sft-export's output comparison")

        return raw_outputs(predictor, inputs, batch_size)

    def onnx_graph(self, predictor, examples):
        """What sft-export format=onnx traces (predict.onnx_graph; CTC models)."""
        from sft.tasks.speech_to_text.predict import onnx_graph  # lazy: torch

        refuse_seq2seq(predictor, "ONNX export")

        return onnx_graph(predictor, examples)

    def decision(self, record: dict):
        return record["text"]


def refuse_seq2seq(predictor, what: str) -> None:
    """SFTConfigError (one line) when the predictor's model is an encoder-decoder: `what`
    is for CTC models only."""
    if predictor.spec.get("auto_class") == "AutoModelForSpeechSeq2Seq":
        raise SFTConfigError(
            f"{predictor.folder}: {what} is for CTC speech models, not encoder-decoders (Whisper)"
        )


def check_frames(model, datamodule) -> None:
    """Every clip must give the model at least one output frame (its receptive field), and
    as many as CTC needs for its transcript (one per character, one more between repeated
    ones). SFTDataError naming the row and file of the first that does not."""
    import torch  # lazy: with the model

    from sft.tasks.speech_to_text.decode import output_lengths
    from sft.tasks.speech_to_text.vocab import ctc_frames_needed

    rate = datamodule.featurizer.sampling_rate
    for split, dataset in datamodule.datasets.items():
        lengths = torch.as_tensor(base_lengths(dataset.bases))
        frames = output_lengths(model, lengths).tolist()
        for i, (count, labels) in enumerate(zip(frames, dataset.labels)):
            needed = max(ctc_frames_needed(labels), 1)
            if count < needed:
                found = dataset.found
                seconds = datamodule.seconds[split][i]
                what = (
                    "shorter than the model's receptive field"
                    if count < 1
                    else "too short for its transcript"
                )
                raise SFTDataError(
                    f"{found.places[i]}: {found.texts[i]}: the clip ({seconds:.3f} s at "
                    f"{rate} Hz) is {what}: the model makes {max(count, 0)} output frames "
                    f"of it, CTC needs {needed} for {found.transcripts[i]!r}"
                )


def base_lengths(bases) -> list[int]:
    """The real frames (first axis) of each cached base: from the cache's `shape` column
    when it has one (nothing decoded), else from the arrays."""
    table = getattr(bases, "table", None)
    if table is not None:
        return [int(shape[0]) for shape in table["shape"]]
    return [len(bases[i]) for i in range(len(bases))]
