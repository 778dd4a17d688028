"""The four sequence tasks: multiclass, binary, multilabel, regression (what differs from
sft.tasks.sequence.task.SequenceTask)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.sequence import decisions as rules
from sft.tasks.sequence import explaining
from sft.tasks.sequence.labels import LabelSpace, check_names, label_set, numeric, sorted_label_set
from sft.tasks.sequence.outputs import (
    binary_records,
    multiclass_records,
    multilabel_records,
    regression_records,
    with_rule,
)
from sft.tasks.sequence.task import SequenceTask


class MulticlassTask(SequenceTask):
    """One class per example: softmax over the classes."""

    name = "multiclass"

    def tune_logits(self, logits, targets, metric, temperature=1.0):
        return {
            "class_bias": rules.tune_class_bias(
                np.asarray(logits) / temperature, targets, metric
            ).tolist()
        }

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
        space = super().label_space(train, label_column, separator)
        if len(space.names) != 2:
            raise SFTDataError(
                f"{train.source}: task 'binary' needs exactly 2 labels in column "
                f"'{label_column}', found {len(space.names)} "
                f"({', '.join(space.names[:10])})"
            )
        return space

    def check_class_names(self, names, source, label_column):
        if len(names) != 2:
            raise SFTDataError(
                f"{source}: task 'binary' needs exactly 2 labels; ClassLabel "
                f"column '{label_column}' has {len(names)} "
                f"({', '.join(names[:10])})"
            )

    def records(self, raw, spec):
        return binary_records(raw, spec)

    def explained_weights(self, labels, name):
        """One logit, the positive class's: the negative class's logit is its negation (the
        softmax of [0, z] gives the same probabilities as the sigmoid of z)."""
        return [1.0 if name == labels[1] else -1.0]


class MultilabelTask(SequenceTask):
    """Any number of labels per example: a sigmoid per label, positive at a threshold."""

    name = "multilabel"
    metrics = (
        "f1_micro",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "hamming",
        "exact_match",
        "auroc",
    )
    decision_key = "labels"

    def label_space(self, train, label_column, separator=","):
        names = sorted_label_set(list({n for v in train.labels for n in label_set(v, separator)}))
        check_names(names, train.source, label_column)
        return LabelSpace(self.name, names, separator, kind=self)

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
        counts = Counter(n for value in labels for n in label_set(value, separator))
        return dict(counts.most_common())

    def check_options(self, cfg):
        if cfg.loss.get("class_weights") is not None:
            raise SFTConfigError(
                "loss.class_weights does not apply to task 'multilabel' (a "
                "weight per class needs one class per row); set it to null"
            )
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

    def explained_weights(self, labels, name):
        """Label `name`'s own logit: each label has its own sigmoid, no shared shift."""
        return [1.0 if label == name else 0.0 for label in labels]

    def records(self, raw, spec):
        return multilabel_records(raw, spec)

    def combined_records(self, combined, labels, spec):
        decided = self.decide(combined, spec)
        records = [
            {
                "labels": [n for n, on in zip(labels, row) if on],
                "probabilities": dict(zip(labels, map(float, p))),
            }
            for row, p in zip(decided, combined)
        ]
        return with_rule(records, {**spec, "labels": labels}, "multilabel")

    def oof_columns(self, frame, outputs, targets, labels):
        frame["target"] = [",".join(lab for lab, t in zip(labels, row) if t) for row in targets]
        for i, label in enumerate(labels):
            frame[f"p/{label}"] = outputs[:, i]

    def oof_metrics(self, outputs, targets):
        """`oof/f1_macro` of the labels decided at 0.5 (macro over labels with a positive)."""
        decided = (outputs >= 0.5).astype(int)
        return {
            "oof/f1_macro": rules.decision_metrics(
                decided, targets.astype(int), self.name, outputs.shape[1]
            )["f1_macro"]
        }

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

    def num_outputs(self, num_labels):
        return 1

    def label_space(self, train, label_column, separator=","):
        numeric(train, label_column)
        return LabelSpace(self.name, kind=self)

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
        return {
            **super().model_spec(module),
            "target_mean": scale[0] if scale else None,
            "target_std": scale[1] if scale else None,
        }

    def records(self, raw, spec):
        return regression_records(raw, spec)

    def explanation_target(self, raw, spec, target=None):
        """The one output (the value before any standardization is undone); a regression
        model has no labels to name."""
        if target is not None:
            raise SFTConfigError(f"target: '{target}': a regression model has no labels")
        score = regression_records(raw[None, :], spec)[0]["score"]
        return {"weights": [1.0], "target": None, "predicted": score, "probability": None}

    def explanation_order(self, raw, targets, spec):
        return explaining.largest_errors_first(self, raw, targets, spec)

    def combine(self, records, labels):
        """The mean predicted value (n, 1)."""
        return np.asarray(
            [[[r["score"]] for r in member] for member in records], dtype=np.float64
        ).mean(axis=0)

    def combined_records(self, combined, labels, spec):
        return [{"score": float(v)} for v in combined[:, 0]]

    def oof_columns(self, frame, outputs, targets, labels):
        frame["target"], frame["value"] = targets.astype(np.float64), outputs[:, 0]

    def oof_metrics(self, outputs, targets):
        error = outputs[:, 0] - targets.astype(np.float64)
        return {"oof/mse": float(np.mean(error**2)), "oof/mae": float(np.mean(np.abs(error)))}

    def ensemble_metrics(self, values: np.ndarray, targets: np.ndarray) -> dict:
        """`ensemble/test/mse` and `mae` of averaged values (n, 1) against targets (n,)."""
        error = values[:, 0] - targets.astype(np.float64)
        return {
            "ensemble/test/mse": float(np.mean(error**2)),
            "ensemble/test/mae": float(np.mean(np.abs(error))),
        }
