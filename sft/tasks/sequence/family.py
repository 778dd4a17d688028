"""The sequence family as a whole: which of its four tasks a data set is (`data.task=auto`)."""

from __future__ import annotations

from typing import ClassVar

from sft.data.labels import Examples
from sft.tasks.sequence.labels import LabelSpace, settle_task


class SequenceFamily:
    """Settles the task and the label names of one-label-per-example data."""

    name = "sequence"
    tasks = ("multiclass", "binary", "multilabel", "regression")
    members: ClassVar[
        dict
    ] = {}  # name -> Task, filled by the package (sft/tasks/sequence/__init__.py)

    def label_space(
        self,
        train: Examples,
        label_column: str,
        task: str = "auto",
        loss_task: str | None = None,
        separator: str = ",",
        float_column: bool = False,
    ) -> LabelSpace:
        """The task (explicit, else from the labels and the loss: sequence.labels.settle_task)
        and the label names of the train split. `float_column`: the source declares the
        column as floats (a 🤗 dataset's Value('float')), which makes `auto` regression unless
        the loss says otherwise. SFTDataError (file, row, column) when the labels cannot be
        that task's."""
        if task == "auto" and loss_task is None and float_column:
            task = "regression"
        task = settle_task(train, label_column, task, loss_task)
        return self.members[task].label_space(train, label_column, separator)

    def settle(self, requested: str, loss_task: str | None) -> str:
        """The task before reading data: explicit, else the one the loss implies, else
        multiclass (the data can only confirm it: another task fails the loss check once the
        labels are read)."""
        return requested if requested != "auto" else (loss_task or "multiclass")
