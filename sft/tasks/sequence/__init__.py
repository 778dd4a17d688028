"""The sequence family: one prediction per example (text, image or audio), from a pooled
vector and sft's head. Four tasks: multiclass (softmax over classes), binary (one logit,
the second label positive), multilabel (a sigmoid per label) and regression (one value).

The task objects here are what generic code asks (sft.tasks.base.Task). Reading them imports
numpy and pandas only: the torch parts (metrics) are imported when a run asks for them, so a
served ONNX model predicts without torch. The math they share lives beside them:
`decisions` (probabilities, calibration and decision rules, numpy), `metrics`
(torchmetrics), `labels` (the task and label names from the data), `outputs` (served records).
"""

from __future__ import annotations

from sft.tasks.sequence.family import SequenceFamily
from sft.tasks.sequence.kinds import BinaryTask, MulticlassTask, MultilabelTask, RegressionTask
from sft.tasks.sequence.task import SequenceTask

SEQUENCE = SequenceFamily()
MULTICLASS = MulticlassTask(SEQUENCE)
BINARY = BinaryTask(SEQUENCE)
MULTILABEL = MultilabelTask(SEQUENCE)
REGRESSION = RegressionTask(SEQUENCE)
SEQUENCE.members = {task.name: task for task in (MULTICLASS, BINARY, MULTILABEL, REGRESSION)}

__all__ = [
    "SEQUENCE",
    "MULTICLASS",
    "BINARY",
    "MULTILABEL",
    "REGRESSION",
    "SequenceTask",
    "SequenceFamily",
]
