"""The speaker-verification family (voiceprints) and its one task: a whole transformers
`AutoModelForAudioXVector` model (wav2vec2, WavLM, UniSpeech-SAT, ... with an x-vector head
and its additive-margin softmax loss) trained to tell the train speakers apart, then used
for what it learned on the way: an embedding per clip whose cosine says whether two clips
are one voice. What generic code asks of it (sft.tasks.base.Task and the task-model members
of sft.tasks.task_model;
what every task-model family shares is in the bases of sft.tasks.one_task).

Reading this module imports numpy only: metrics, the module and prediction import torch and
transformers when a run or a predictor asks for them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sft.errors import SFTDataError
from sft.tasks.one_task import STANDARDIZE_TARGETS, OneTaskFamily, TaskModelTask

NAME = "speaker_verification"
# A clip of a speaker the train split does not have: it takes part in trials, not in the loss.
UNSEEN = -1


class SpeakerFamily(OneTaskFamily):
    """The speaker-verification family: its classes are the train split's speakers, sorted.
    Its Task is set by sft/tasks/speaker_verification/__init__.py."""

    name = NAME

    def label_space(
        self,
        train,
        label_column: str = "speaker",
        task: str = NAME,
        loss_task: str | None = None,
        separator: str = ",",
        **hints,
    ):
        """The train speakers, sorted (the classes the loss tells apart); SFTDataError when
        the train split has fewer than two."""
        from sft.tasks.sequence.labels import LabelSpace, label_name  # light: numpy, pandas

        names = sorted({label_name(v) for v in train.labels})
        if len(names) < 2:
            raise SFTDataError(
                f"{train.source}: the train split has {len(names)} speaker in column "
                f"'{label_column}'; telling voices apart needs at least 2"
            )
        return LabelSpace(NAME, names, kind=self.task)


class SpeakerVerificationTask(TaskModelTask):
    """Same speaker or not: batches hold clips (`input_values`, `attention_mask`), `labels`
    (the train speaker of each clip, UNSEEN for a voice the train split lacks) and `speakers`
    (a code per voice of the split); the model's own AM-softmax loss trains on the labels;
    evaluation scores cosine trials among the split's clips (trials.py): equal error rate
    (`eer`, monitored) and minimum detection cost (`min_dcf`). A served record is a clip's
    L2-normalized embedding; `embed` and `verify` (predict.py) answer sft.load's questions,
    with the threshold of the validation split's equal error rate (sft_model.json)."""

    name = NAME
    auto_class = "AutoModelForAudioXVector"
    model_inputs = ("input_values", "attention_mask")
    metrics = ("eer", "min_dcf")
    per_class = False
    monitor = ("val/eer", "min")
    # features: none (the base's empty set): folds, ensembles, calibration, decisions and
    # ONNX export are built for labels.
    decision_key = None  # a record is an embedding: values, no decision to agree on
    pipeline_tags: ClassVar[dict[str, str]] = {"audio": "audio-classification"}
    # Unused: the model's own loss trains (sft.tasks.checks refuses another loss choice).
    loss_problem = "multiclass"
    standardize_refusal = STANDARDIZE_TARGETS
    records_from = "audio files"

    # -- configuration and data ---------------------------------------------------------------

    def encode_targets(self, space, examples, label_column: str) -> np.ndarray:
        """[n, 2] int64: each clip's train speaker id (UNSEEN for another voice) and its
        speaker's code in the split (speakers sorted by name)."""
        from sft.tasks.sequence.labels import label_name  # light: numpy, pandas

        index = {name: i for i, name in enumerate(space.names)}
        names = [label_name(v) for v in examples.labels]
        codes = {name: i for i, name in enumerate(sorted(set(names)))}
        return np.asarray(
            [[index.get(name, UNSEEN), codes[name]] for name in names], dtype=np.int64
        ).reshape(-1, 2)

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        """Clips per train speaker (k,) int64."""
        ids = np.asarray(targets, dtype=np.int64).reshape(-1, 2)[:, 0]
        return np.bincount(ids[ids >= 0], minlength=num_labels)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """Clips per speaker of a split, most first (data report)."""
        from sft.tasks.sequence.labels import label_name  # light: numpy, pandas

        names, counts = np.unique([label_name(v) for v in labels], return_counts=True)
        return {str(n): int(c) for n, c in sorted(zip(names, counts), key=lambda x: -x[1])}

    # -- the LightningModule ------------------------------------------------------------------

    def module(self, cfg, datamodule):
        """The LightningModule: the task-model module with trials (module.SpeakerModule)."""
        from sft.tasks.speaker_verification.module import build_speaker_module  # lazy: torch

        return build_speaker_module(cfg, datamodule)

    def predictions(self, outputs):
        return outputs.embeddings  # what the trials score (cosines of these)

    def batch_predictions(self, outputs, batch, processor=None):
        return outputs.embeddings

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """TrialMetrics with its defaults (module.SpeakerModule sets the run's trial count
        and seed)."""
        from sft.tasks.speaker_verification.trials import TrialMetrics  # lazy: torch

        return TrialMetrics()

    def epoch_values(self, summary, per_class):
        """{eer, min_dcf} and no class report (the speakers of a split may be unseen ones)."""
        computed = summary.compute()
        return {name: computed[name] for name in self.metrics}, {}

    # -- the model folder and prediction ------------------------------------------------------

    def model_spec(self, module) -> dict:
        """`verify_threshold`: the cosine at the validation split's equal error rate (of the
        epoch whose weights were kept), which `verify` compares a pair's score with."""
        return {"verify_threshold": float(module.verify_threshold)}

    def predict(self, predictor, inputs, batch_size: int = 8, progress: bool = False) -> list[dict]:
        """One record per audio path: {"embedding": the L2-normalized embedding, a list of
        floats} (predict.py)."""
        embeddings = self.embed(predictor, inputs, batch_size, progress)
        return [{"embedding": [float(v) for v in row]} for row in embeddings]

    def embed(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """(n, d) float32 L2-normalized embeddings of the clips at `inputs` (predict.py)."""
        from sft.tasks.speaker_verification.predict import embed  # lazy: torch

        return embed(predictor, inputs, batch_size, progress)

    def verify(self, predictor, first, second, batch_size: int = 8) -> dict:
        """{"score": cosine of the two clips' embeddings, "same": score >= the model's
        verify_threshold} (predict.py)."""
        from sft.tasks.speaker_verification.predict import verify  # lazy: torch

        return verify(predictor, first, second, batch_size)

    def raw_outputs(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """The embeddings (n, d): what sft-export format=folder compares between copies."""
        return self.embed(predictor, inputs, batch_size, progress)

    def decision(self, record: dict):
        return None  # decision_key is None: parity compares the embeddings themselves
