"""The token-classification family and its one task: a tag per word (named entities and other
per-word labels), from a per-token head; what generic code asks of it (sft.tasks.base.Task).

Reading this module imports numpy only: the torch parts (metrics) are imported when a run
asks for them, and prediction needs the tokenizer and the runner the predictor holds.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import numpy as np

from sft.errors import SFTConfigError
from sft.tasks.token_classification.tags import entity_types, scheme_name, spans, tag_order

NAME = "token_classification"


class TokenFamily:
    """Settles the task (there is one) and the tag list of tagged sentences."""

    name = NAME
    tasks = (NAME,)
    task = None  # its one Task, set by the package (sft/tasks/token_classification/__init__.py)

    def settle(self, requested: str, loss_task: str | None) -> str:
        """Always token_classification (`auto` is the sequence family's; data configs of this
        family name the task)."""
        return NAME

    def label_space(
        self,
        train,
        label_column: str = "tags",
        task: str = NAME,
        loss_task: str | None = None,
        separator: str = ",",
        **hints,
    ):
        """The tag list of the train split's sentences (sft.tasks.token_classification.
        readers.Sentences): O first, then by type (tags.tag_order)."""
        from sft.tasks.sequence.labels import LabelSpace  # light: numpy and pandas

        return LabelSpace(NAME, tag_order(t for tags in train.tags for t in tags), kind=self.task)


class TokenClassificationTask:
    """One tag per word: the head maps every token's vector to tag logits, the first subword
    of each word carries its tag (align.py), metrics are entity-level (metrics.py), a
    prediction is a list of entities with character spans (entities.py)."""

    name = NAME
    metrics = ("f1", "precision", "recall", "token_accuracy")
    # Per entity type: <stage>/per_class/f1/<type> (class_names: the entity types).
    per_class = True
    monitor = ("val/f1", "max")
    # ONNX and int8 export (parity on every word's tag logits, agreement on the entities).
    # Not yet for this family: CV and ensembles (their OOF tables and combining are per
    # example), calibration and tuned decisions.
    features = frozenset({"onnx", "int8"})
    continuous_targets = False
    decision_key = "entities"
    pipeline_tags: ClassVar[dict[str, str]] = {"text": "token-classification"}
    # The loss sees a multiclass problem: one row per labelled word (loss_inputs).
    loss_problem = "multiclass"

    def __init__(self, family):
        self.family = family

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- configuration and data ---------------------------------------------------------------

    def supports(self, feature: str) -> bool:
        return feature in self.features

    def check_options(self, cfg) -> None:
        """Refuse loss and data options that need one label per example: data.standardize.
        (Features it lacks, cv.folds or decisions.tune, are refused by
        sft.tasks.checks.check_features from `features`.)"""
        if cfg.data.get("standardize"):
            raise SFTConfigError(
                f"data.standardize=true applies to regression targets; the task is '{NAME}'"
            )

    # sft builds the network: a backbone + sft's head + the configured loss.
    auto_class = None

    def module(self, cfg, datamodule):
        """None: sft builds the backbone + head + loss of the config groups."""
        return None

    def pooling(self, configured: str) -> str:
        """No pooling: one vector per token, which the head maps to tag logits."""
        return "none"

    def num_outputs(self, num_labels: int) -> int:
        return num_labels

    def pos_weight_count(self, num_labels: int) -> int:
        return 1

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        """Words per tag in the train split (k,) int64 (balanced class weights per tag)."""
        return np.bincount(np.concatenate(list(targets)), minlength=num_labels)

    def stratify(self, examples):
        return None  # a sentence has many tags

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """Entities per type in a split's tag sequences, most frequent first (data report)."""
        labels = [list(tags) for tags in labels]
        scheme = scheme_name("auto", (t for tags in labels for t in tags))
        counts = Counter(kind for tags in labels for kind, _, _ in spans(tags, scheme))
        return dict(counts.most_common())

    # -- the LightningModule ------------------------------------------------------------------

    def loss_inputs(self, outputs, targets):
        """(logits [words, tags], tag ids [words]) of the labelled positions: the loss is a
        multiclass one over each word's first subword; -100 positions are dropped."""
        keep = targets != -100
        return outputs[keep], targets[keep]

    def predictions(self, outputs):
        """Tag ids [batch, tokens] (the argmax of the logits)."""
        return outputs.argmax(dim=-1)

    def metric_targets(self, targets):
        return targets

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """EntityMetrics (entity P/R/F1 by the CoNLL rules, token accuracy) over the tags."""
        from sft.tasks.token_classification.metrics import EntityMetrics  # lazy: torch

        return EntityMetrics(label_names, scheme_name("auto", label_names))

    def per_class_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """The same counts, read per entity type (epoch_values)."""
        return self.summary_metrics(num_labels, threshold, label_names)

    def epoch_values(self, summary, per_class):
        """{f1, precision, recall, token_accuracy} and the report per entity type
        (precision, recall, f1: NaN for a type the split lacks; support; present)."""
        import torch  # lazy: with the metrics

        computed = summary.compute()
        values = {name: computed[name] for name in self.metrics}
        if per_class is None:
            return values, {}
        found = per_class.compute()
        types = per_class.types
        support = (
            torch.stack([found[f"support_{t}"] for t in types]).long()
            if types
            else torch.zeros(0, dtype=torch.long)
        )
        present = support > 0
        report = {"support": support, "present": present}
        for name in ("precision", "recall", "f1"):
            column = (
                torch.stack([found[f"{name}_{t}"] for t in types]).double()
                if types
                else torch.zeros(0, dtype=torch.float64)
            )
            report[name] = torch.where(present, column, torch.full_like(column, float("nan")))
        return values, report

    def class_names(self, label_names: list[str]) -> list[str]:
        """The entity types of the tag list (B-PER, I-PER -> PER), sorted."""
        return entity_types(label_names)

    # -- the model folder and prediction ------------------------------------------------------

    def id2label(self, names: list[str]) -> dict[int, str]:
        return dict(enumerate(names))

    def model_spec(self, module) -> dict:
        return {}  # the scheme and the word pattern come from the data (spec_fields)

    def predict(
        self, predictor, inputs, batch_size: int = 32, progress: bool = False
    ) -> list[dict]:
        """One record per text: {"entities": [...]} (entities.decode_entities), spans into
        the text as given (sft.tasks.token_classification.predict)."""
        from sft.tasks.token_classification.predict import predict_entities  # lazy: tokenizer

        return predict_entities(predictor, inputs, batch_size, progress)

    def raw_outputs(self, predictor, inputs, batch_size: int = 32, progress: bool = False):
        """Every word's tag logits [total words, tags] (predict.raw_outputs): what sft-export
        compares between a model and its ONNX copy."""
        from sft.tasks.token_classification.predict import raw_outputs  # lazy: tokenizer

        return raw_outputs(predictor, inputs, batch_size)

    def decision(self, record: dict):
        """The entities found, by type and character span (their scores are probabilities,
        not decisions)."""
        return [(e["type"], e["start"], e["end"]) for e in record["entities"]]

    def records(self, raw, spec: dict) -> list[dict]:
        """Token outputs alone do not make entities (they need the words): see `predict`."""
        raise SFTConfigError(
            f"task '{NAME}' makes its records from texts (predict), not from raw outputs alone"
        )
