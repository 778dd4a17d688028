"""The four sequence tasks: what each one's targets, outputs, predictions and metrics are.

Shapes: raw outputs `logits` (n, k) with k = classes (multiclass), labels (multilabel), 1
(binary: the positive class's logit; regression: the value); probabilities (n, k) with binary
as (n, 2) [negative, positive]; targets (n,) class ids, (n,) 0/1 (binary), (n, k) 0/1
(multilabel) or (n,) floats (regression).
"""

from __future__ import annotations

import numpy as np

from sft.tasks.sequence import decisions as rules
from sft.tasks.sequence.labels import LabelSpace, check_names, label_set, numeric, \
    sorted_label_set, sorted_names
from sft.tasks.sequence.outputs import binary_records, multiclass_records, \
    multilabel_records, regression_records

# The features of sft a task may declare (sft.tasks.base.FEATURES).
_CLASSIFIER_FEATURES = frozenset({"cv", "calibration", "decisions", "ensemble", "onnx", "int8"})
_CLASSIFICATION = ("acc", "precision_macro", "recall_macro", "f1_macro", "auroc")


class SequenceTask:
    """What every sequence task shares; subclasses say what differs (sft.tasks.base.Task)."""

    name = ""
    metrics: tuple[str, ...] = _CLASSIFICATION
    # Logs <stage>/per_class/f1/<label key> for each label (sft.config.tasks).
    per_class = True
    monitor = ("val/f1_macro", "max")
    features = _CLASSIFIER_FEATURES
    # Targets are numbers on a scale (data.standardize applies), not label ids.
    continuous_targets = False
    # How the network ends: one vector per example (the backbone's pooling), then sft's head.
    network = "pooled"
    # The field of a served record that holds the decision (sft-export's agreement check).
    decision_key = "label"
    # `pipeline_tag` of the model card, by modality.
    pipeline_tags = {"text": "text-classification", "image": "image-classification",
                     "audio": "audio-classification"}

    def __init__(self, family):
        self.family = family

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- labels and targets -------------------------------------------------------------------

    @property
    def loss_problem(self) -> str:
        """The task a loss must declare it trains (`tasks` of sft.model.losses)."""
        return self.name

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
        return LabelSpace(self.name, names, separator)

    def check_class_names(self, names: list[str], source: str, label_column: str) -> None:
        """Refuse declared class names (a ClassLabel column's) this task cannot use
        (SFTDataError naming the source and column)."""

    def encode_targets(self, labels: LabelSpace, examples, label_column: str) -> np.ndarray:
        """Class ids (n,) int64."""
        from sft.tasks.sequence.labels import label_name

        id_of = labels.label_id(examples, label_column)
        return np.array([id_of(label_name(v), i) for i, v in enumerate(examples.labels)],
                        dtype=np.int64)

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
        from collections import Counter

        return dict(Counter(str(v) for v in labels).most_common())

    def check_options(self, cfg) -> None:
        """Refuse loss and data options this task cannot use (SFTConfigError, one line)."""
        from sft.errors import SFTConfigError

        if cfg.data.get("standardize"):
            raise SFTConfigError(f"data.standardize=true applies to regression targets; the "
                                 f"task is '{self.name}'")

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

    def tune_logits(self, logits: np.ndarray, targets: np.ndarray, metric: str,
                    temperature: float = 1.0) -> dict:
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

    def predict(self, predictor, inputs, batch_size: int = 32,
                progress: bool = False) -> list[dict]:
        """What `sft.load(...).predict(inputs)` returns: the `records` of the predictor's
        raw outputs (sft.inference.predictor.Predictor.logits: one row per input)."""
        return self.records(predictor.rows(inputs, batch_size, progress), predictor.spec)

    def raw_outputs(self, predictor, inputs, batch_size: int = 32,
                    progress: bool = False) -> np.ndarray:
        """The network's raw outputs, one row per input (n, num_outputs)."""
        return predictor.rows(inputs, batch_size, progress)

    def combine(self, records: list[list[dict]], labels: list[str]) -> np.ndarray:
        """An ensemble's combined output from its members' records: the mean probability
        per label (n, labels)."""
        return np.asarray([[[r["probabilities"][name] for name in labels] for r in member]
                           for member in records], dtype=np.float64).mean(axis=0)

    def combined_records(self, combined: np.ndarray, labels: list[str], spec: dict
                         ) -> list[dict]:
        """Served records of an ensemble's `combine`d probabilities under its rules."""
        decided = self.decide(combined, spec)
        return [{"label": labels[int(choice)], "probabilities": dict(zip(labels, map(float, p)))}
                for choice, p in zip(decided, combined)]

    # -- out-of-fold predictions (cross-validation) -------------------------------------------

    def oof_columns(self, frame, outputs: np.ndarray, targets: np.ndarray,
                    labels: list[str]) -> None:
        """Add target, `p/<label>` and prediction columns for the validation `outputs`
        (probabilities, from sft.training.fold_outcome) to the OOF `frame`."""
        frame["target"] = [labels[int(t)] for t in targets]
        for i, label in enumerate(labels):
            frame[f"p/{label}"] = outputs[:, i]
        frame["prediction"] = [labels[i] for i in outputs.argmax(axis=1)]

    def oof_metrics(self, outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """`oof/acc` and `oof/f1_macro` of the pooled OOF probabilities' argmax."""
        decided = outputs.argmax(axis=1)
        values = rules.decision_metrics(decided, self.decision_targets(targets), self.name,
                                        max(outputs.shape[1], 2))
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


class MulticlassTask(SequenceTask):
    """One class per example: softmax over the classes."""

    name = "multiclass"

    def tune_logits(self, logits, targets, metric, temperature=1.0):
        return {"class_bias": rules.tune_class_bias(np.asarray(logits) / temperature, targets,
                                                    metric).tolist()}

    def tune(self, probs, targets, metric):
        logits = np.log(np.clip(probs, 1e-12, 1.0))  # log p: the logits up to a row constant
        return {"class_bias": rules.tune_class_bias(logits, targets, metric).tolist()}

    def records(self, raw, spec):
        return multiclass_records(raw, spec)


class BinaryTask(SequenceTask):
    """Two classes, one logit: the second label is the positive class."""

    name = "binary"

    def num_outputs(self, num_labels):
        return 1

    def label_space(self, train, label_column, separator=","):
        from sft.errors import SFTDataError

        space = super().label_space(train, label_column, separator)
        if len(space.names) != 2:
            raise SFTDataError(f"{train.source}: task 'binary' needs exactly 2 labels in column "
                               f"'{label_column}', found {len(space.names)} "
                               f"({', '.join(space.names[:10])})")
        return space

    def check_class_names(self, names, source, label_column):
        from sft.errors import SFTDataError

        if len(names) != 2:
            raise SFTDataError(f"{source}: task 'binary' needs exactly 2 labels; ClassLabel "
                               f"column '{label_column}' has {len(names)} "
                               f"({', '.join(names[:10])})")

    def records(self, raw, spec):
        return binary_records(raw, spec)


class MultilabelTask(SequenceTask):
    """Any number of labels per example: a sigmoid per label, positive at a threshold."""

    name = "multilabel"
    metrics = ("f1_micro", "f1_macro", "precision_macro", "recall_macro", "hamming",
               "exact_match", "auroc")
    decision_key = "labels"

    def label_space(self, train, label_column, separator=","):
        names = sorted_label_set(list({n for v in train.labels for n in label_set(v, separator)}))
        check_names(names, train.source, label_column)
        return LabelSpace(self.name, names, separator)

    def encode_targets(self, labels, examples, label_column):
        """Multi-hot rows (n, labels) float32."""
        id_of = labels.label_id(examples, label_column)
        hot = np.zeros((len(examples), len(labels.names)), dtype=np.float32)
        for i, value in enumerate(examples.labels):
            for name in label_set(value, labels.separator):
                hot[i, id_of(name, i)] = 1.0
        return hot

    def stratify(self, examples):
        return None

    def class_counts(self, targets, num_labels):
        """Positives per label (k,) int64."""
        return targets.sum(axis=0).astype(np.int64)

    def label_counts(self, labels, separator=","):
        """Positives per label (a row counts once for each of its labels: a list as it is, a
        string split on `separator`), most frequent first."""
        from collections import Counter

        counts = Counter(n for value in labels for n in label_set(value, separator))
        return dict(counts.most_common())

    def check_options(self, cfg):
        from sft.errors import SFTConfigError

        if cfg.loss.get("class_weights") is not None:
            raise SFTConfigError("loss.class_weights does not apply to task 'multilabel' (a "
                                 "weight per class needs one class per row); set it to null")
        super().check_options(cfg)

    def pos_weight_count(self, num_labels):
        return num_labels

    def model_spec(self, module):
        # label i is predicted when sigmoid(output i) >= threshold.
        return {**super().model_spec(module), "threshold": module.threshold}

    def decision_targets(self, targets):
        return np.asarray(targets)  # multi-hot rows, as they are

    def confidence(self, probs, targets):
        """Each label's probability and whether the label is positive (as
        BinaryCalibrationError bins them)."""
        return probs.reshape(-1), targets.reshape(-1).astype(float)

    def records(self, raw, spec):
        return multilabel_records(raw, spec)

    def combined_records(self, combined, labels, spec):
        decided = self.decide(combined, spec)
        return [{"labels": [n for n, on in zip(labels, row) if on],
                 "probabilities": dict(zip(labels, map(float, p)))}
                for row, p in zip(decided, combined)]

    def oof_columns(self, frame, outputs, targets, labels):
        frame["target"] = [",".join(lab for lab, t in zip(labels, row) if t) for row in targets]
        for i, label in enumerate(labels):
            frame[f"p/{label}"] = outputs[:, i]

    def oof_metrics(self, outputs, targets):
        """`oof/f1_macro` of the labels decided at 0.5 (macro over labels with a positive)."""
        decided = (outputs >= 0.5).astype(int)
        return {"oof/f1_macro": rules.decision_metrics(decided, targets.astype(int), self.name,
                                                       outputs.shape[1])["f1_macro"]}

    def metric_targets(self, targets):
        return targets.long()  # torchmetrics wants integer multi-hot targets


class RegressionTask(SequenceTask):
    """One number per example; optionally learnt standardized."""

    name = "regression"
    metrics = ("mse", "mae", "r2", "pearson", "spearman")
    per_class = False
    monitor = ("val/mse", "min")
    features = frozenset({"cv", "ensemble", "onnx", "int8"})
    continuous_targets = True
    decision_key = None
    pipeline_tags = {"text": "text-classification", "image": "image-classification",
                     "audio": "audio-classification"}

    def num_outputs(self, num_labels):
        return 1

    def label_space(self, train, label_column, separator=","):
        numeric(train, label_column)
        return LabelSpace(self.name)

    def encode_targets(self, labels, examples, label_column):
        """Float targets (n,) float32."""
        return numeric(examples, label_column).astype(np.float32)

    def stratify(self, examples):
        return None

    def label_counts(self, labels, separator=","):
        return None

    def check_options(self, cfg):
        pass  # data.standardize is regression's own

    def id2label(self, names):
        return None

    def model_spec(self, module):
        # standardized targets: prediction = output * target_std + target_mean.
        scale = module.target_scale
        return {**super().model_spec(module), "target_mean": scale[0] if scale else None,
                "target_std": scale[1] if scale else None}

    def records(self, raw, spec):
        return regression_records(raw, spec)

    def combine(self, records, labels):
        """The mean predicted value (n, 1)."""
        return np.asarray([[[r["score"]] for r in member] for member in records],
                          dtype=np.float64).mean(axis=0)

    def combined_records(self, combined, labels, spec):
        return [{"score": float(v)} for v in combined[:, 0]]

    def oof_columns(self, frame, outputs, targets, labels):
        frame["target"], frame["value"] = targets.astype(np.float64), outputs[:, 0]

    def oof_metrics(self, outputs, targets):
        error = outputs[:, 0] - targets.astype(np.float64)
        return {"oof/mse": float(np.mean(error ** 2)), "oof/mae": float(np.mean(np.abs(error)))}

    def ensemble_metrics(self, values: np.ndarray, targets: np.ndarray) -> dict:
        """`ensemble/test/mse` and `mae` of averaged values (n, 1) against targets (n,)."""
        error = values[:, 0] - targets.astype(np.float64)
        return {"ensemble/test/mse": float(np.mean(error ** 2)),
                "ensemble/test/mae": float(np.mean(np.abs(error)))}
