"""The LightningModule of causal-LM SFT: the transformers causal LM trained on sft's loss, the
sum of token cross-entropies over the trained tokens divided by the trained tokens of the
whole accumulated batch (batches.py says how the window's count reaches each batch), and
evaluated by token loss, perplexity, token accuracy and generation on held-out prompts.

Each validation epoch (not Lightning's sanity check) and the test generate for the first
`data.generation.rows` rows with an answer of their split (greedy by default: generate.py),
scored by exact match and ROUGE-L (metrics.py); the test's rows are written as the MLflow
table `tables/test_generations.json` (prompt, reference, generation, exact).
"""

from __future__ import annotations

import json
from pathlib import Path

from sft.tasks.base import TABLES_DIR
from sft.tasks.causal_lm.generate import generate
from sft.tasks.causal_lm.metrics import token_sums
from sft.tasks.task_model import TaskModelModule, build_task_module

TABLE = "test_generations.json"


def build_causal_module(cfg, datamodule) -> CausalLMModule:
    """The run's CausalLMModule (sft.tasks.task_model.build_task_module with this class),
    handed the held-out prompts and the generation settings of the data; packing is settled
    by the model's attention kernel (CausalLMDataModule.set_packing)."""
    module = build_task_module(
        cfg,
        datamodule,
        module_class=CausalLMModule,
        tokenizer=datamodule.tokenizer,
        held_out=datamodule.held_out,
        generation=dict(datamodule.generation),
    )
    config = module.backbone.encoder.config
    datamodule.set_packing(getattr(config, "_attn_implementation", None))
    return module


class CausalLMModule(TaskModelModule):
    """Fine-tunes a causal LM on its trained tokens (see the module docstring).

    Batches (batches.py): input_ids, attention_mask (absent when packed: position_ids),
    labels (-100 where not trained), and in training `window_tokens`, the trained tokens of
    the accumulation window (all DDP ranks). `held_out`: per split, (prompt as shown, prompt
    ids, reference) of the rows to generate for; `generation`: max_new_tokens, num_beams."""

    def __init__(self, *args, tokenizer, held_out: dict, generation: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokenizer = tokenizer
        self.held_out = dict(held_out)
        self.generation = dict(generation)
        self.generations: list[dict] = []  # the test's table rows

    def _logits(self, batch: dict):
        inputs = {k: batch[k] for k in self.task.model_inputs if k in batch}
        # No key/value cache: nothing is decoded here, and with one (the config's default)
        # transformers 5.25 no longer reads packed rows' boundaries from position_ids
        # (measured on the tiny Llama: packed and padded token sums differ with it).
        return self.backbone(**inputs, use_cache=False).logits

    def training_step(self, batch, batch_idx):
        nll, _, count = token_sums(self._logits(batch), batch["labels"])
        trainer = self._trainer
        accumulate = int(trainer.accumulate_grad_batches) if trainer is not None else 1
        world = int(trainer.world_size) if trainer is not None else 1
        window = batch.get("window_tokens")
        window = count * accumulate * world if window is None else window
        # Lightning divides the returned loss by accumulate_grad_batches, DDP averages over
        # ranks: what remains is this batch's token sum / the window's trained tokens.
        loss = nll * (accumulate * world) / window.clamp(min=1)
        # The logged loss is the mean token loss weighted by tokens: its epoch value is the
        # epoch's token sum / token count, the same with or without accumulation.
        tokens = int(count)
        self._log_mean("loss", "train/loss", nll.detach() / max(tokens, 1), tokens, True, True)
        if self.regularizer is not None:
            terms = self.regularizer.terms(self)
            penalty = sum(terms.values())
            self._log_mean("reg_loss", "train/reg_loss", penalty, tokens, on_step=True)
            for name, value in terms.items():
                self._log_mean(f"reg_{name}", f"train/reg/{name}", value, tokens, on_step=False)
            loss = loss + penalty
        return loss

    def _evaluate(self, batch, loss_metric, metrics, per_class):
        logits = self._logits(batch)
        nll, correct, count = token_sums(logits.detach(), batch["labels"])
        if int(count):  # a row's tokens weigh as much as any other row's
            loss_metric.update(nll / count, weight=count)
        metrics.update(nll, correct, count)

    def on_validation_epoch_end(self):
        trainer = self._trainer
        if trainer is None or not trainer.sanity_checking:
            self._generate("val", self.val_metrics)
        super().on_validation_epoch_end()

    def on_test_epoch_end(self):
        rows = self._generate("test", self.test_metrics)
        self.generations = rows
        super().on_test_epoch_end()
        self._write_generations()

    def _generate(self, stage: str, metrics) -> list[dict]:
        """Generate for this rank's share of the split's held-out rows and score them."""
        held = self.held_out.get(stage) or []
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            held = held[trainer.global_rank :: trainer.world_size]
        if not held:
            return []
        texts = generate(
            self.backbone.encoder,
            self.tokenizer,
            [ids for _, ids, _ in held],
            self.generation["max_new_tokens"],
            self.generation["num_beams"],
            batch_size=16,
        )
        references = [reference for _, _, reference in held]
        exact = metrics.update_generations(texts, references)
        return [
            {"prompt": shown, "reference": ref, "generation": text, "exact": bool(hit)}
            for (shown, _, ref), text, hit in zip(held, texts, exact)
        ]

    def _write_generations(self) -> None:
        """The test's generated rows as an MLflow table file (rank zero), logged with the
        run's artifacts (TABLES_DIR)."""
        rows, trainer = self.generations, getattr(self, "_trainer", None)
        if not rows or trainer is None or not trainer.is_global_zero:
            return
        columns = ["prompt", "reference", "generation", "exact"]
        folder = Path(trainer.default_root_dir) / TABLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        table = {"columns": columns, "data": [[row[c] for c in columns] for row in rows]}
        (folder / TABLE).write_text(json.dumps(table, indent=1, ensure_ascii=False))
