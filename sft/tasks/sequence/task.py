"""What every sequence task shares (sft.tasks.base.Task); the four tasks are in `kinds`.

Shapes: raw outputs `logits` (n, k) with k = classes (multiclass), labels (multilabel), 1
(binary: the positive class's logit; regression: the value); probabilities (n, k) with binary
as (n, 2) [negative, positive]; targets (n,) class ids, (n,) 0/1 (binary), (n, k) 0/1
(multilabel) or (n,) floats (regression).
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from sft.errors import SFTConfigError
from sft.tasks.sequence import decisions as rules
from sft.tasks.sequence import explaining
from sft.tasks.sequence.labels import LabelSpace, check_names, label_name, sorted_names
from sft.tasks.sequence.outputs import with_rule

# The features of sft a task may declare (sft.tasks.base.FEATURES).
CLASSIFIER_FEATURES = frozenset(
    {"cv", "calibration", "decisions", "ensemble", "onnx", "int8", "adapter"}
)
_CLASSIFICATION = ("acc", "precision_macro", "recall_macro", "f1_macro", "auroc")


class SequenceTask:
    """What every sequence task shares; subclasses say what differs (sft.tasks.base.Task)."""

    name = ""
    metrics: tuple[str, ...] = _CLASSIFICATION
    # Logs <stage>/per_class/f1/<label key> for each label (sft.config.metric_keys).
    per_class = True
    monitor = ("val/f1_macro", "max")
    features = CLASSIFIER_FEATURES
    # Targets are numbers on a scale (data.standardize applies), not label ids.
    continuous_targets = False
    # The field of a served record that holds the decision (sft-export's agreement check).
    decision_key = "label"
    # `pipeline_tag` of the model card, by modality.
    pipeline_tags: ClassVar[dict[str, str]] = {
        "text": "text-classification",
        "image": "image-classification",
        "audio": "audio-classification",
    }

    def __init__(self, family):
        self.family = family

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- labels and targets -------------------------------------------------------------------

    @property
    def loss_problem(self) -> str:
        """The task a loss must declare it trains (`tasks` of sft.model.losses)."""
        return self.name

    # sft builds the network: a backbone + sft's head + the configured loss.
    auto_class = None

    def module(self, cfg, datamodule):
        """None: sft builds the backbone + head + loss of the config groups."""
        return None

    def pooling(self, configured: str) -> str:
        """The backbone's pooling: the configured one (`model.pooling`)."""
        return configured

    def supports(self, feature: str) -> bool:
        """Whether sft's `feature` (cv, calibration, decisions, ensemble, onnx, int8) applies."""
        return feature in self.features

    def num_outputs(self, num_labels: int) -> int:
        """Width of the head: one logit per class (multiclass) or label (multilabel)."""
        return num_labels

    def label_space(self, train, label_column: str, separator: str = ",") -> LabelSpace:
        """The label names of the train split (sorted; numbers as numbers)."""
        names = sorted_names(train.labels)
        check_names(names, train.source, label_column)
        return LabelSpace(self.name, names, separator, kind=self)

    def check_class_names(self, names: list[str], source: str, label_column: str) -> None:
        """Refuse declared class names (a ClassLabel column's) this task cannot use
        (SFTDataError naming the source and column)."""

    def encode_targets(self, labels: LabelSpace, examples, label_column: str) -> np.ndarray:
        """Class ids (n,) int64."""
        id_of = labels.label_id(examples, label_column)
        return np.array(
            [id_of(label_name(v), i) for i, v in enumerate(examples.labels)], dtype=np.int64
        )

    def stratify(self, examples) -> np.ndarray | None:
        """What a split or fold keeps in proportion: the label of each row (single-label
        tasks), or None (scikit-learn stratifies one label per row)."""
        return examples.labels.astype(str).to_numpy()

    def class_counts(self, targets: np.ndarray, num_labels: int) -> np.ndarray:
        """Examples per class in `targets` (k,) int64."""
        return np.bincount(targets, minlength=num_labels)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int] | None:
        """Examples per label of a split's raw labels (data report), most frequent first;
        None when the targets are not labels (regression)."""
        return dict(Counter(str(v) for v in labels).most_common())

    def check_options(self, cfg) -> None:
        """Refuse loss and data options this task cannot use (SFTConfigError, one line)."""
        if cfg.data.get("standardize"):
            raise SFTConfigError(
                f"data.standardize=true applies to regression targets; the task is '{self.name}'"
            )

    def pos_weight_count(self, num_labels: int) -> int:
        """How many values `loss.pos_weight` takes: one per label (multilabel), else one."""
        return 1

    def id2label(self, names: list[str]) -> dict[int, str] | None:
        """What the saved transformers config's id2label holds (None: none)."""
        return dict(enumerate(names))

    def model_spec(self, module) -> dict:
        """Fields of sft_model.json beyond the labels that turn the outputs of `module` (an
        SFTModule) into predictions: the multilabel threshold, the regression scale."""
        return {"threshold": None, "target_mean": None, "target_std": None}

    # -- outputs -> probabilities and decisions (numpy: served without torch) -------------------

    def probabilities(self, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Probabilities (n, k) of `logits / temperature` (sft.tasks.sequence.decisions)."""
        return rules.probabilities(logits, self.name, temperature)

    def decide(self, probs: np.ndarray, spec: dict) -> np.ndarray:
        """Hard decisions from probabilities under `spec`'s class_bias or thresholds."""
        return rules.decide_probabilities(probs, self.name, spec)

    def decide_logits(self, logits: np.ndarray, spec: dict) -> np.ndarray:
        """Hard decisions of raw `logits` under `spec` (temperature, class_bias, thresholds),
        as every predict path makes them."""
        return rules.decide_logits(logits, self.name, spec)

    def decision_targets(self, targets: np.ndarray) -> np.ndarray:
        """Targets as decisions count them: class ids (binary targets arrive as floats)."""
        return np.asarray(targets).astype(int)

    def nll(self, logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
        """Mean negative log-likelihood (nats) of `targets` under `logits / temperature`."""
        return rules.nll(logits, targets, self.name, temperature)

    def fit_temperature(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """The temperature minimizing `nll` (sft.tasks.sequence.decisions.fit_temperature)."""
        return rules.fit_temperature(logits, targets, self.name)

    def tune(self, probs: np.ndarray, targets: np.ndarray, metric: str) -> dict:
        """Decision rules (spec fields) that maximize `metric` of `decide` on (`probs`,
        `targets`): thresholds here; multiclass tunes class biases."""
        positive = probs[:, 1] if self.name == "binary" else probs
        return {"thresholds": rules.tune_thresholds(positive, targets, self.name).tolist()}

    def tune_logits(
        self, logits: np.ndarray, targets: np.ndarray, metric: str, temperature: float = 1.0
    ) -> dict:
        """`tune` on the probabilities of `logits / temperature` (multiclass: on the scaled
        logits themselves, where its biases act)."""
        return self.tune(self.probabilities(logits, temperature), targets, metric)

    def decision_metrics(self, decided: np.ndarray, targets: np.ndarray, k: int) -> dict:
        """acc and f1_macro of hard decisions (sft.tasks.sequence.decisions)."""
        return rules.decision_metrics(decided, targets, self.name, k)

    def confidence(self, probs: np.ndarray, targets: np.ndarray):
        """Per decision: its confidence and whether it was right (reliability diagram)."""
        return probs.max(axis=1), (probs.argmax(axis=1) == targets).astype(float)

    def ece(self, probs: np.ndarray, targets: np.ndarray) -> float:
        """Expected calibration error (sft.tasks.sequence.metrics.expected_calibration_error)."""
        from sft.tasks.sequence.metrics import expected_calibration_error  # lazy: torch

        return expected_calibration_error(probs, targets, self.name)

    def records(self, raw: np.ndarray, spec: dict) -> list[dict]:
        """One served record per row of raw outputs (n, num_outputs) under the model's
        `spec` (sft.tasks.sequence.outputs)."""
        raise NotImplementedError  # each task below has its own

    def predict(
        self, predictor, inputs, batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """What `sft.load(...).predict(inputs)` returns: the `records` of the predictor's
        raw outputs (sft.inference.predictor.Predictor.logits: one row per input)."""
        return self.records(predictor.rows(inputs, batch_size, progress), predictor.spec)

    def explanation_target(self, raw: np.ndarray, spec: dict, target: str | None = None) -> dict:
        """What an attribution of one input explains (sft.inference.explain), from its raw
        outputs `raw` (num_outputs,): the logit (not a saturating probability) of `target`
        or of the predicted label (sft.tasks.sequence.explaining.target_of)."""
        return explaining.target_of(self, raw, spec, target)

    def explanation_order(self, raw: np.ndarray, targets: np.ndarray, spec: dict) -> np.ndarray:
        """Rows of (`raw`, `targets`) in the order worth explaining: confident mistakes first
        (sft.tasks.sequence.explaining.mistakes_first)."""
        return explaining.mistakes_first(self, raw, targets, spec)

    def explained_weights(self, labels: list[str], name: str) -> list[float]:
        """The explained output as weights of the raw outputs: label `name`'s logit minus the
        mean logit (softmax ignores a shift shared by all logits, so a lone logit may rise
        with every class's; the centred one moves only as the class's odds do)."""
        weights = [-1.0 / len(labels)] * len(labels)
        weights[labels.index(name)] += 1.0
        return weights

    def raw_outputs(
        self, predictor, inputs, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """The network's raw outputs, one row per input (n, num_outputs)."""
        return predictor.rows(inputs, batch_size, progress)

    def decision(self, record: dict):
        """The decision a served record makes (what two copies of a model must agree on):
        its `decision_key` field."""
        return record[self.decision_key]

    def combine(self, records: list[list[dict]], labels: list[str]) -> np.ndarray:
        """An ensemble's combined output from its members' records: the mean probability
        per label (n, labels)."""
        return np.asarray(
            [[[r["probabilities"][name] for name in labels] for r in member] for member in records],
            dtype=np.float64,
        ).mean(axis=0)

    def combined_records(self, combined: np.ndarray, labels: list[str], spec: dict) -> list[dict]:
        """Served records of an ensemble's `combine`d probabilities under its rules."""
        decided = self.decide(combined, spec)
        records = [
            {"label": labels[int(choice)], "probabilities": dict(zip(labels, map(float, p)))}
            for choice, p in zip(decided, combined)
        ]
        return with_rule(records, {**spec, "labels": labels}, self.name)

    # -- out-of-fold predictions (cross-validation) -------------------------------------------

    def oof_columns(
        self, frame, outputs: np.ndarray, targets: np.ndarray, labels: list[str]
    ) -> None:
        """Add target, `p/<label>` and prediction columns for the validation `outputs`
        (probabilities, from sft.training.fold_outcome) to the OOF `frame`."""
        frame["target"] = [labels[int(t)] for t in targets]
        for i, label in enumerate(labels):
            frame[f"p/{label}"] = outputs[:, i]
        frame["prediction"] = [labels[i] for i in outputs.argmax(axis=1)]

    def oof_metrics(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """`oof/acc` and `oof/f1_macro` of the pooled OOF probabilities' argmax."""
        decided = outputs.argmax(axis=1)
        values = rules.decision_metrics(
            decided, self.decision_targets(targets), self.name, max(outputs.shape[1], 2)
        )
        return {f"oof/{k}": v for k, v in values.items()}

    # -- the LightningModule's side (torch) ----------------------------------------------------

    def predictions(self, outputs):
        """What the metrics consume (torch): probabilities, or the regression value."""
        from sft.tasks.sequence.metrics import predictions  # lazy: torch

        return predictions(self.name, outputs)

    def metric_targets(self, targets):
        """Targets as torchmetrics takes them."""
        return targets

    def loss_inputs(self, outputs, targets):
        """(outputs, targets) as the loss takes them: as they are."""
        return outputs, targets

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """The torchmetrics collection of this task's scalar metrics."""
        from sft.tasks.sequence.metrics import summary_metrics  # lazy: torch

        return summary_metrics(self.name, max(num_labels, 2), threshold)

    def per_class_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """The per-class states (sft.tasks.sequence.metrics), or None."""
        from sft.tasks.sequence.metrics import per_class_metrics  # lazy: torch

        return per_class_metrics(self.name, max(num_labels, 2), threshold)

    def class_names(self, label_names: list[str]) -> list[str]:
        """The classes with per-class metrics, in report order: the labels themselves."""
        return list(label_names)

    def epoch_values(self, summary, per_class):
        """One evaluation epoch's values by metric name, and the class report."""
        from sft.tasks.sequence.metrics import epoch_values  # lazy: torch

        return epoch_values(summary, per_class)
