"""Prompts and generation of the causal-LM family: one home for evaluation (the module
generates on held-out prompts each epoch) and prediction (sft-predict, sft.load(...).generate,
serving).

- `prompt_ids`: a row rendered up to its answer, as the model saw it in training: the chat
  template with its generation prompt (`<|im_start|>assistant\\n` in ChatML), tokenized with
  BOS once (render.encode_text). A `prompt` (+ `completion`) row is one user turn; a
  `messages` row is its turns before the last assistant turn (all of them when it has none);
  a `text` row is its text. Without a chat template a prompt is its plain text, as
  render.render_row trains it.
- `reference`: the answer a row holds (the completion, or the last assistant turn), the
  reference generation is scored against; None for a `text` row or a conversation without one.
- `generate`: greedy (or beam) decoding of a list of prompts in batches, left-padded with an
  attention mask (a decoder continues from its last position, so padding goes left), stopping
  at EOS; returns each prompt's new text without special tokens.
"""

from __future__ import annotations

from collections.abc import Mapping

from sft.errors import SFTDataError
from sft.tasks.causal_lm.render import apply_template, encode_text
from sft.tasks.causal_lm.rows import check_messages, where


def prompt_parts(row: Mapping, at: str) -> tuple[list[dict] | None, str, str | None]:
    """(messages before the answer or None, the prompt's plain text, the reference or None)
    of a row: `messages`, `prompt` (a `completion` is optional: prediction inputs have none)
    or `text`. SFTDataError naming `at` for a row with none of these, or with a value of the
    wrong type."""
    if not isinstance(row, Mapping):
        raise SFTDataError(f"{at}: a row must be an object with keys, got {type(row).__name__}")
    if row.get("messages") is not None:
        turns = check_messages(row["messages"], at)
        last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
        if last is None:
            return turns, turns[-1]["content"], None
        before = turns[:last]
        shown = next((t["content"] for t in reversed(before) if t["role"] == "user"), "")
        return before, shown, turns[last]["content"]
    has_prompt, has_text = row.get("prompt") is not None, row.get("text") is not None
    if has_prompt and has_text:
        raise SFTDataError(f"{at}: has both 'prompt' and 'text'; keep one shape a row")
    if not (has_prompt or has_text):
        keys = ", ".join(sorted(map(str, row))) or "none"
        raise SFTDataError(f"{at}: no 'prompt', 'messages' or 'text' (its keys: {keys})")
    key = "prompt" if has_prompt else "text"
    value = row[key]
    if not isinstance(value, str):
        raise SFTDataError(f"{at}: '{key}' must be a string, got {type(value).__name__}")
    if not has_prompt:
        return None, value, None
    completion = row.get("completion")
    return [{"role": "user", "content": value}], value, completion


def reference(row: Mapping, at: str) -> str | None:
    """The answer `row` holds (its completion or last assistant turn), or None."""
    return prompt_parts(row, at)[2]


def prompt_ids(
    row: Mapping,
    tokenizer,
    chat_template: str | None = None,
    *,
    file: str = "input",
    number: int = 1,
) -> list[int]:
    """The token ids a model continues from to answer `row` (see the module docstring).

    `chat_template`: a Jinja template used instead of the tokenizer's; a prompt row without
    any template is its plain text (a `messages` row needs one). SFTDataError
    ('<file> row <number>: ...', one line) for a row without a prompt, a bad message, a
    template that fails, or a prompt that encodes to no token.
    """
    at = where(file, number)
    messages, text, _ = prompt_parts(row, at)
    template = chat_template or getattr(tokenizer, "chat_template", None)
    is_text = messages is None
    if not is_text and template:
        text = apply_template(tokenizer, messages, template, True, at)
    elif not is_text and row.get("messages") is not None:
        raise SFTDataError(
            f"{at}: a 'messages' row needs a chat template, and the tokenizer has none "
            "(name one in config)"
        )
    ids, _ = encode_text(tokenizer, text)
    if not ids:
        raise SFTDataError(f"{at}: the prompt is empty")
    return ids


def stop_ids(model, tokenizer) -> list[int]:
    """The ids that end a generation: the tokenizer's EOS and the model's generation
    config's (a list there too: Llama 3 stops at two)."""
    found = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        for token in value if isinstance(value, (list, tuple)) else [value]:
            if token is not None and token not in found:
                found.append(int(token))
    return found


def generate(
    model,
    tokenizer,
    prompts_ids: list[list[int]],
    max_new_tokens: int,
    num_beams: int = 1,
    batch_size: int = 8,
) -> list[str]:
    """The new text `model` (a transformers causal LM, or a peft model around one) writes
    after each prompt of `prompts_ids` (token ids, from `prompt_ids`), in order.

    Greedy (`num_beams` 1) or beam search, at most `max_new_tokens` tokens, stopping at EOS
    (`stop_ids`); batches of `batch_size` prompts left-padded with the pad token (EOS when the
    tokenizer has none) under an attention mask. The text is decoded without special tokens
    and not stripped. The model is put in eval mode for the call and returned to its mode.
    SFTDataError for an empty prompt.
    """
    import torch  # lazy: the task module reads this one without torch
    from transformers.utils import logging as hf_logging

    stops = stop_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    device = next(model.parameters()).device
    training = model.training
    model.eval()
    verbosity = hf_logging.get_verbosity()
    # generate warns about sampling fields of a saved generation config (temperature, top_p)
    # that greedy decoding ignores, on every call.
    hf_logging.set_verbosity_error()
    texts: list[str] = []
    step = max(1, int(batch_size))
    try:
        for start in range(0, len(prompts_ids), step):
            chunk = [list(map(int, p)) for p in prompts_ids[start : start + step]]
            for offset, ids in enumerate(chunk):
                if not ids:
                    raise SFTDataError(f"prompt {start + offset}: no token to continue from")
            width = max(len(ids) for ids in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, ids in enumerate(chunk):
                input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                mask[row, width - len(ids) :] = 1
            with torch.no_grad():
                out = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=mask.to(device),
                    max_new_tokens=int(max_new_tokens),
                    num_beams=int(num_beams),
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=stops,
                )
            texts += tokenizer.batch_decode(out[:, width:].cpu(), skip_special_tokens=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        model.train(training)
    return texts
