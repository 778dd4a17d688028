"""The causal-LM family and its one task: generative SFT of a decoder (`AutoModelForCausalLM`:
Llama, SmolLM2, GPT-2, ...) on prompt/completion, chat or plain text rows; what generic code
asks of it (sft.tasks.base.Task and the task-model members of sft.tasks.task_model; what every
task-model family shares is in the bases of sft.tasks.one_task).

The loss is sft's, not the model's: the sum of token cross-entropies over the trained tokens
divided by the trained tokens of the whole accumulated batch (module.py), so gradient
accumulation does not change it. Evaluation: token-weighted loss, perplexity, mean token
accuracy, and generation on held-out prompts scored by exact match and ROUGE-L (metrics.py).

Reading this module imports nothing heavy: the data module, the LightningModule, metrics
and generation import torch and transformers when a run or a predictor asks for them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.one_task import OneTaskFamily, TaskModelTask

NAME = "causal_lm"
AUTO_CLASS = "AutoModelForCausalLM"


class CausalLMFamily(OneTaskFamily):
    """The causal-LM family: its label space has no labels (the targets are token ids of
    the rows themselves). Its Task is set by sft/tasks/causal_lm/__init__.py."""

    name = NAME

    def label_space(self, train, label_column: str = "", task: str = NAME, **hints):
        """A label space without labels."""
        from sft.tasks.sequence.labels import LabelSpace  # light: numpy and pandas

        return LabelSpace(NAME, [], kind=self.task)


class CausalLMTask(TaskModelTask):
    """Answers to prompts: batches hold input_ids, attention_mask and labels (-100 where not
    trained), sft's token-summed loss trains the model, evaluation generates, a served
    record is {"text": generated text}."""

    name = NAME
    auto_class = AUTO_CLASS
    model_inputs = ("input_ids", "attention_mask", "position_ids")
    metrics = ("perplexity", "token_accuracy", "exact_match", "rougeL")
    per_class = False
    # The validation loss, not exact match: it covers every validation row each epoch and
    # moves smoothly, while exact match is scored on `data.generation.rows` generated rows
    # only (generation is the slow part) and sits at 0 for the first epochs of most runs, so
    # checkpoints and early stopping could not tell them apart. monitor.metric=val/exact_match
    # (max) picks by generation instead.
    monitor = ("val/loss", "min")
    # No folds, ensembles, calibration or decisions (no labels); no ONNX graph of a
    # generation loop.
    features = frozenset()
    decision_key = "text"
    pipeline_tags: ClassVar[dict[str, str]] = {"text": "text-generation"}
    loss_problem = NAME  # unused: sft's token-summed loss trains (module.py)
    loss_words = "its token cross-entropy over the trained tokens (data.train_on)"
    predictions_refusal = "generates its predictions (sft.tasks.causal_lm.generate)"
    records_from = "prompts"

    # -- configuration and data ---------------------------------------------------------------

    def check_options(self, cfg) -> None:
        """Refuse data.standardize, and data.generation values out of range (one line)."""
        super().check_options(cfg)
        generation = cfg.data.get("generation") or {}
        for key in ("max_new_tokens", "num_beams"):
            value = generation.get(key, 1)
            if not isinstance(value, int) or value < 1:
                raise SFTConfigError(f"data.generation.{key}={value}: must be an integer >= 1")
        rows = generation.get("rows", 0)
        if not isinstance(rows, int) or rows < 0:
            raise SFTConfigError(f"data.generation.rows={rows}: must be an integer >= 0")

    def class_counts(self, targets, num_labels: int) -> np.ndarray:
        return np.zeros(num_labels, dtype=np.int64)

    def label_counts(self, labels, separator: str = ",") -> dict[str, int]:
        """The split's row shapes and how often each occurs (the data report's label line);
        `labels` are the rows' shapes (sft.tasks.causal_lm.rows.SHAPES)."""
        from collections import Counter  # here: only the data report asks

        return dict(Counter(labels).most_common())

    # -- the LightningModule ------------------------------------------------------------------

    def model_settings(self, datamodule) -> dict:
        """No class labels: the outputs are the tokenizer's vocabulary."""
        return {"label_names": []}

    def module(self, cfg, datamodule):
        """The causal-LM module (module.py): the task model with sft's token-summed loss and
        generation on the held-out prompts."""
        from sft.tasks.causal_lm.module import build_causal_module  # lazy: torch, Lightning

        return build_causal_module(cfg, datamodule)

    def summary_metrics(self, num_labels: int, threshold: float = 0.5, label_names=None):
        """CausalLMMetrics: perplexity, token accuracy, exact match, ROUGE-L over a split."""
        from sft.tasks.causal_lm.metrics import CausalLMMetrics  # lazy: torch

        return CausalLMMetrics()

    def epoch_values(self, summary, per_class):
        """{perplexity, token_accuracy, exact_match, rougeL}; no class report."""
        return summary.compute(), {}

    def class_names(self, label_names: list[str]) -> list[str]:
        return []

    # -- the model folder and prediction ------------------------------------------------------

    def id2label(self, names: list[str]) -> None:
        return None  # the outputs are the tokenizer's vocabulary (saved beside the model)

    def model_spec(self, module) -> dict:
        """Nothing beyond the data's fields (the chat template, max_length and generation
        settings: CausalLMDataModule.spec_fields)."""
        return {}

    def predict(self, predictor, inputs, batch_size: int = 8, progress: bool = False) -> list[dict]:
        """One {"text": generated text} per input: a prompt string, or a row (`prompt`,
        `messages` or `text`), prompted as in training (generate.prompt_ids with the saved
        chat template) and generated with the saved generation settings. SFTDataError for a
        single string instead of a list, or a bad row (one line naming it)."""
        from sft.tasks.causal_lm.generate import generate, prompt_ids  # lazy: torch

        if isinstance(inputs, str):
            raise SFTDataError("expected a list of prompts, got a single string")
        spec, tokenizer = predictor.spec, predictor.tokenizer
        rows = [{"prompt": x} if isinstance(x, str) else x for x in inputs]
        template = spec.get("chat_template")
        ids = [prompt_ids(r, tokenizer, template, number=i) for i, r in enumerate(rows, 1)]
        settings = spec.get("generation") or {}
        texts = generate(
            predictor.runner.net,
            tokenizer,
            ids,
            int(settings.get("max_new_tokens", 32)),
            int(settings.get("num_beams", 1)),
            batch_size,
        )
        return [{"text": text} for text in texts]

    def raw_outputs(self, predictor, inputs, batch_size: int = 8, progress: bool = False):
        """SFTConfigError: a generated text has no fixed-size output to compare."""
        raise SFTConfigError(
            f"{predictor.folder}: sft-export's output comparison is for models with fixed "
            "outputs; a causal LM generates (its folder loads with transformers as it is)"
        )

    def decision(self, record: dict):
        return record["text"]
