"""Task families: one module (or small package) per kind of prediction.

A task is the object that answers every question that differs between kinds of prediction
(`sft.tasks.base.Task`): what a batch's targets are, how the network ends, which losses fit,
how outputs become predictions, which metrics are logged, what a served prediction looks
like and which of sft's features apply. Generic code (data modules, the LightningModule, the
run, tracking, inference, serving) asks the task it is handed and never tests a task name.

The registry maps each task name (`data.task`, `sft_model.json`'s `task`) to the object that
implements it, by import path, so that reading it imports no torch: `sft.load` serves an
ONNX model without torch. A new family adds its names here (one line each) and its package.
"""

from __future__ import annotations

from importlib import import_module

from sft.errors import SFTConfigError

# task name -> "module:attribute" of its Task object.
REGISTRY: dict[str, str] = {
    "multiclass": "sft.tasks.sequence:MULTICLASS",
    "binary": "sft.tasks.sequence:BINARY",
    "multilabel": "sft.tasks.sequence:MULTILABEL",
    "regression": "sft.tasks.sequence:REGRESSION",
    "token_classification": "sft.tasks.token_classification:TOKEN_CLASSIFICATION",
    "detection": "sft.tasks.detection:DETECTION",
    "segmentation": "sft.tasks.segmentation:SEGMENTATION",
    "speech_to_text": "sft.tasks.speech_to_text:SPEECH_TO_TEXT",
    "speaker_verification": "sft.tasks.speaker_verification:SPEAKER_VERIFICATION",
    "causal_lm": "sft.tasks.causal_lm:CAUSAL_LM",
}
# `data.task=auto`: the sequence family settles the task from the labels and the loss.
AUTO = "auto"


def task_names() -> tuple[str, ...]:
    """Every registered task name, in registration order."""
    return tuple(REGISTRY)


def get_task(name: str):
    """The Task object registered as `name`; SFTConfigError (one line, with the choices)
    for a name no family registers."""
    where = REGISTRY.get(str(name))
    if where is None:
        raise SFTConfigError(f"unknown task '{name}' (choices: {', '.join(REGISTRY)}, {AUTO})")
    module, attribute = where.split(":")
    return getattr(import_module(module), attribute)


def family_of(name: str):
    """The family that settles `name` once the data is read: the registered task's family,
    or the sequence family for `auto` (its labels decide multiclass, binary, multilabel or
    regression)."""
    if str(name) == AUTO:
        from sft.tasks.sequence import SEQUENCE  # light: numpy and pandas

        return SEQUENCE
    return get_task(name).family


def as_task(task):
    """`task` as a Task object: a registered name is looked up, an object passes through."""
    return get_task(task) if isinstance(task, str) else task
