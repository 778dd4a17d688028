"""Base classes of the families whose network is a whole transformers task model with its own
loss (detection, segmentation, speech_to_text, speaker_verification): each has one task.

`OneTaskFamily` holds what such a family answers alike: its one task name, `settle` giving it
and a label space of the train split's class names. `TaskModelTask` holds the members of
sft.tasks.base.Task that are the same for every task-model task: no sft pooling or head
(`pooling` "none", one output per label, one pos_weight), the model's own loss (no
`loss_inputs`), no data.standardize, no stratified splits, no per-class state beside the
summary, labels as id2label. They are written once here so a family states only what
differs; a subclass overrides a member, or sets the class attribute a message is worded
from. The sequence and token-classification families are not task-model families and do
not use these.

Reading this module imports nothing heavy: the module builder is imported when a run asks.
"""

from __future__ import annotations

from typing import ClassVar

from sft.errors import SFTConfigError

# The other wording of the data.standardize refusal (segmentation, speaker_verification).
STANDARDIZE_TARGETS = "data.standardize=true applies to regression targets; the task is '{name}'"


class OneTaskFamily:
    """A family with one task, named `name`; `task` is its Task, set by the family's package
    (`sft/tasks/<family>/__init__.py`). Subclasses set `name`."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    task = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.tasks = (cls.name,)

    def settle(self, requested: str, loss_task: str | None) -> str:
        """Always the one task (`auto` is the sequence family's; data configs name the
        task)."""
        return self.name

    def label_space(
        self,
        train,
        label_column: str | None = None,
        task: str | None = None,
        loss_task: str | None = None,
        separator: str = ",",
        names: list[str] | None = None,
        **hints,
    ):
        """The class names in id order: `names` (id2label, read with the data), else those
        of the train split (its `names`: the reader's categories, checked on reading)."""
        from sft.tasks.sequence.labels import LabelSpace  # light: numpy and pandas

        return LabelSpace(self.name, list(train.names if names is None else names), kind=self.task)


class TaskModelTask:
    """The Task members every whole-task-model task shares. Subclasses set the declarations
    of sft.tasks.base.Task (`name`, `auto_class`, `model_inputs`, `metrics`, ...) and the
    data, metric and prediction members; the wording of the errors below comes from the
    class attributes `standardize_refusal`, `loss_words`, `predictions_refusal` and
    `records_from`."""

    name: ClassVar[str]
    features: ClassVar[frozenset[str]] = frozenset()
    continuous_targets = False
    # The refusal of data.standardize, formatted with the task name.
    standardize_refusal = "data.standardize=true applies to regression; the task is {name}"
    # What trains the task, in loss_inputs' refusal.
    loss_words = "its model's own loss"
    # What to use instead of predictions(outputs), in its refusal.
    predictions_refusal = "makes predictions with batch_predictions"
    # What a served record is made from, in the refusal of records(raw, spec).
    records_from = "images"

    def __init__(self, family):
        self.family = family

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- configuration and data ---------------------------------------------------------------

    def supports(self, feature: str) -> bool:
        """Whether `feature` (a run option such as "onnx") is in the task's `features`."""
        return feature in self.features

    def check_options(self, cfg) -> None:
        """Refuse data.standardize (regression targets): SFTConfigError. A loss choice other
        than the default is refused by sft.tasks.checks.check_network: the model's own loss
        trains."""
        if cfg.data.get("standardize"):
            raise SFTConfigError(self.standardize_refusal.format(name=self.name))

    def pooling(self, configured: str) -> str:
        """Always "none": the model's own head reads its encoder's output (no sft pooling)."""
        return "none"

    def num_outputs(self, num_labels: int) -> int:
        """One output per label (the model's head is built for the label space)."""
        return num_labels

    def pos_weight_count(self, num_labels: int) -> int:
        """1: the model's own loss takes no sft pos_weight."""
        return 1

    def stratify(self, examples):
        """None: an example holds many classes (images), or none to stratify by (clips)."""
        return None

    # -- the LightningModule ------------------------------------------------------------------

    def module(self, cfg, datamodule):
        """The LightningModule: the task-model module of sft.tasks.task_model."""
        from sft.tasks.task_model import build_task_module  # lazy: torch and Lightning

        return build_task_module(cfg, datamodule)

    def loss_inputs(self, outputs, targets):
        """SFTConfigError: the model computes its own loss from the batch's labels."""
        raise SFTConfigError(f"task '{self.name}' trains with {self.loss_words}")

    def predictions(self, outputs):
        """SFTConfigError: predictions need the batch (batch_predictions)."""
        raise SFTConfigError(f"task '{self.name}' {self.predictions_refusal}")

    def metric_targets(self, targets):
        """The batch's targets as collated (the metrics' ground truth)."""
        return targets

    def per_class_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """None: a per-class report, if any, comes from the summary (epoch_values)."""
        return None

    def class_names(self, label_names: list[str]) -> list[str]:
        """The label names, in report order."""
        return list(label_names)

    # -- the model folder and prediction ------------------------------------------------------

    def id2label(self, names: list[str]) -> dict[int, str]:
        """{id: name} for the model's config (transformers loads the folder alone)."""
        return dict(enumerate(names))

    def records(self, raw, spec: dict) -> list[dict]:
        """SFTConfigError: records come from the inputs themselves (predict)."""
        raise SFTConfigError(
            f"task '{self.name}' makes its records from {self.records_from} (predict)"
        )
