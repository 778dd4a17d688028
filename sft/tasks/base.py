"""What a task family answers: the `Task` and `Family` protocols (typing.Protocol).

Generic code (the data modules, sft.model.module.SFTModule, sft.training, sft.tracking,
sft.inference) holds a Task object and asks it; it never compares task names. A family is
one module or small package under sft/tasks/ that implements these, registers its task names
in sft.tasks.REGISTRY, and ships its config YAMLs (conf/data/<its data>.yaml whose
`task` names it). The sequence family (sft.tasks.sequence) and the token-classification
family (sft.tasks.token_classification) are the worked examples.

Shapes: `outputs` are the head's raw outputs as a torch tensor, [batch, num_outputs]
(sequence) or [batch, tokens, num_outputs] (per-token); `raw` the same as numpy at
inference; `targets` what the data module's batches hold under `labels`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

# The features of sft that only some tasks can use; a task lists the ones it supports in
# `features`, and the code that implements one asks `supports` (unsupported: skipped when
# it is a default, such as temperature scaling; refused in one line when asked for).
FEATURES = ("cv", "calibration", "decisions", "ensemble", "onnx", "int8", "adapter")
# The run folder's subfolder where task-model families draw predictions beside the ground
# truth (sft.tasks.task_model), logged as the run's artifacts of the same name.
PICTURES_DIR = "pictures"
# The run folder's subfolder of MLflow tables task-model families write (sft.tasks.task_model:
# the worst test examples), logged as the run's artifacts of the same name.
TABLES_DIR = "tables"


@runtime_checkable
class Family(Protocol):
    """Settles which of its tasks a data set is, before and after reading it."""

    name: str
    tasks: tuple[str, ...]

    def settle(self, requested: str, loss_task: str | None) -> str:
        """The task name before the data is read (`data.task`, or `auto` resolved with the
        task the loss implies)."""

    def label_space(
        self,
        train: Any,
        label_column: str,
        task: str = "auto",
        loss_task: str | None = None,
        separator: str = ",",
        **hints,
    ) -> Any:
        """The task and its label names from the train split: an object with `task` (name),
        `names` (label names in id order) and `kind` (the Task). SFTDataError naming file,
        row (or sentence and token) and column for labels the task cannot use."""


@runtime_checkable
class Task(Protocol):
    """One kind of prediction. Declarations (class attributes) first, then questions."""

    name: str  # registered name: data.task, sft_model.json's `task`, the sft.task tag
    family: Any  # its Family
    metrics: tuple[str, ...]  # summary metrics logged as val/<m> and test/<m>
    per_class: bool  # also logs <stage>/per_class/f1/<class key> (sft.config.metric_keys)
    monitor: tuple[str, str]  # (metric, mode) monitored when monitor.metric is auto
    features: frozenset  # the FEATURES it supports
    continuous_targets: bool  # targets are numbers on a scale (data.standardize applies)
    decision_key: str | None  # the served record's field holding the decision (None: none)
    pipeline_tags: dict  # modality -> Hugging Face pipeline tag (model card)
    loss_problem: str  # the task a loss must declare it trains (sft.model.losses `tasks`)
    # The transformers Auto class of a whole task model that computes its own loss
    # (sft.model.task_model; detection, segmentation), or None: sft's backbone + head + loss.
    auto_class: str | None

    # -- configuration and data --------------------------------------------------------------
    def supports(self, feature: str) -> bool:
        """Whether `feature` (one of FEATURES) applies to this task."""

    def check_options(self, cfg: Any) -> None:
        """Refuse loss and data options the task cannot use (SFTConfigError, one line)."""

    def module(self, cfg: Any, datamodule: Any) -> Any:
        """The run's LightningModule when the task builds its own (a whole transformers task
        model with its own head and loss: sft.tasks.task_model), else None (sft builds the
        backbone + head + loss of the config groups)."""

    def pooling(self, configured: str) -> str:
        """How the network ends: the backbone's pooling (`none`: one vector per token)."""

    def num_outputs(self, num_labels: int) -> int:
        """Width of the head's output."""

    def pos_weight_count(self, num_labels: int) -> int:
        """How many values `loss.pos_weight` takes."""

    def class_counts(self, targets: Any, num_labels: int) -> Any:
        """Examples per class of the train targets (k,) (balanced class weights, model card)."""

    def stratify(self, examples: Any) -> Any:
        """One value per row that splits and folds keep in proportion, or None."""

    def label_counts(self, labels: Any, separator: str = ",") -> dict | None:
        """Examples per label of a split (data report); None when targets are not labels."""

    # -- the LightningModule ------------------------------------------------------------------
    def loss_inputs(self, outputs: Any, targets: Any) -> tuple[Any, Any]:
        """(outputs, targets) as the configured loss takes them."""

    def predictions(self, outputs: Any) -> Any:
        """What the metrics consume (probabilities, values)."""

    def metric_targets(self, targets: Any) -> Any:
        """Targets as the metrics take them."""

    def summary_metrics(
        self, num_labels: int, threshold: float = 0.5, label_names: list[str] | None = None
    ) -> Any:
        """A torchmetrics collection (update(preds, targets), compute(), reset());
        `label_names` for tasks whose metrics read the labels (token tags: entity types)."""

    def per_class_metrics(
        self, num_labels: int, threshold: float = 0.5, label_names: list[str] | None = None
    ) -> Any:
        """Per-class states (a torchmetrics collection) or None."""

    def epoch_values(self, summary: Any, per_class: Any) -> tuple[dict, dict]:
        """One evaluation epoch: {metric name: value} and the class report (`precision`,
        `recall`, `f1`, `support`, `present` aligned with `class_names`; {} without)."""

    def class_names(self, label_names: list[str]) -> list[str]:
        """The classes that have per-class metrics, in report order."""

    # -- the model folder and prediction ------------------------------------------------------
    def id2label(self, names: list[str]) -> dict | None:
        """The transformers config's id2label (None: the outputs are no labels)."""

    def model_spec(self, module: Any) -> dict:
        """sft_model.json fields beyond the labels that turn outputs into predictions."""

    def predict(
        self, predictor: Any, inputs: Any, batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """One served record per input (sft.inference.predictor.Predictor runs the network)."""

    def raw_outputs(
        self, predictor: Any, inputs: Any, batch_size: int = 32, progress: bool = False
    ) -> Any:
        """The network's raw outputs as one 2-D array (sft-export's parity check)."""

    def decision(self, record: dict) -> Any:
        """What two copies of a model must agree on in a served record (export check)."""

    def records(self, raw: Any, spec: dict) -> list[dict]:
        """Served records of raw outputs (n, ...) under the model's spec."""
