"""The causal-LM family (generative SFT, sft issue 25): teach a decoder
(`AutoModelForCausalLM`) to answer prompts or chat, with the loss on what it should learn.

Its parts: `rows` (the three row shapes, `text`, `prompt` + `completion`, `messages`,
checked with one-line errors naming file and row), `render` (a row -> input_ids + labels by
the chat template, tokenized once with BOS once, the trained tokens found in the rendered
text, left truncation), `generate` (prompts and generation: one home for evaluation and
prediction), `data` (CausalLMDataModule: read, render once, batch), `batches` (accumulation
windows and collation), `metrics` (perplexity, token accuracy, exact match, ROUGE-L),
`module` (the LightningModule: sft's token-summed loss, generation each epoch), `task` (what
generic code asks). Importing this package imports numpy only (the registry reads it
without torch).
"""

from __future__ import annotations

from sft.tasks.causal_lm.task import AUTO_CLASS, NAME, CausalLMFamily, CausalLMTask

CAUSAL_LM_FAMILY = CausalLMFamily()
CAUSAL_LM = CausalLMTask(CAUSAL_LM_FAMILY)
CAUSAL_LM_FAMILY.task = CAUSAL_LM

__all__ = ["AUTO_CLASS", "CAUSAL_LM", "CAUSAL_LM_FAMILY", "NAME", "CausalLMFamily", "CausalLMTask"]
