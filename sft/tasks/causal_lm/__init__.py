"""The causal-LM family (generative SFT, sft issue 25): UNDER CONSTRUCTION.

Not registered in `sft.tasks.REGISTRY` yet: `task=causal_lm` is not a task name until the
family has its task object, data module, training and evaluation. What exists now is the
core they will stand on, pure functions with their tests:

- `rows`: the three row shapes (`text`, `prompt` + `completion`, `messages`), told apart and
  checked with one-line errors naming file and row;
- `render`: a row -> `input_ids` + `labels`, rendered with the chat template, tokenized once
  (BOS once), the trained tokens found from the rendered text (`train_on`), left truncation.
"""
