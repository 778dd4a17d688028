"""One row -> `input_ids` and `labels`: rendered by the tokenizer's chat template, tokenized once,
with the trained tokens found in the rendered text itself.

How, and which known failures of other tools each step avoids (TRL issues, as cited in sft
issue 25):

- The mask comes from the text, not from searching token ids. For each assistant turn the
  conversation is rendered up to it with `add_generation_prompt=True` and again with it; the
  characters in between (the assistant's content and its end-of-turn token, e.g. ChatML's
  `<|im_end|>`, without the whitespace the template writes after it) are trained, and the
  tokenizer's offsets map characters to tokens (a token that overlaps them is trained). TRL's
  `DataCollatorForCompletionOnlyLM` searched for a response template's token ids, which
  tokenize differently in context (huggingface/trl#1183, #1820), and then trained on
  nothing with a warning only; here a conversation whose mask is empty is refused in one
  line.
- Labels are -100 only where the mask says so, never where a token equals `pad_token_id`:
  with pad == eos (SmolLM2) that comparison masks the end-of-turn token and the model never
  learns to stop (huggingface/trl#1623, huggingface/alignment-handbook#127). Padding is the
  collator's business (it pads labels with -100).
- One tokenization path: when the rendered text already starts with the tokenizer's
  `bos_token` (templates that write it, like Llama 3's) it is tokenized with
  `add_special_tokens=False`; otherwise with the tokenizer's defaults (which add BOS where the
  tokenizer does). Tokenizing the template's text with the defaults gave a doubled BOS
  (huggingface/alignment-handbook#127).
- A row longer than `max_length` loses tokens from the left of its prompt (BOS kept), so the
  answer (the last assistant span) survives whole, and the count is returned; with
  `truncation="refuse"` it is refused. An answer that alone does not fit is refused. A
  `text` row (no answer) keeps its end.

Shapes: `text` rows are trained on whole (`train_on="all"` only), plus EOS; `prompt` +
`completion` rows become a user turn and an assistant turn when the tokenizer has a chat
template, else `prompt + completion + eos`; `messages` rows are rendered as they are.
`train_on`: "completion" trains on a row's answer (a completion, or a conversation's last
assistant turn); "assistant" on every assistant turn; "all" on every token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sft.errors import SFTConfigError, SFTDataError, first_line
from sft.tasks.causal_lm.rows import PROMPT_COMPLETION, TEXT, check_messages, row_shape, where

TRAIN_ON = ("completion", "assistant", "all")
TRUNCATION = ("left", "refuse")
IGNORE = -100  # the label transformers' causal-LM loss skips


@dataclass(frozen=True)
class Rendered:
    """One encoded row: `input_ids` and `labels` (same length, at most `max_length`; labels
    are the token ids where trained, -100 elsewhere, unshifted as transformers' causal-LM
    models expect), and `truncated`, the prompt tokens dropped from the left."""

    input_ids: list[int]
    labels: list[int]
    truncated: int = 0


def check_options(train_on: str, truncation: str) -> None:
    """Refuse an unknown `train_on` or `truncation` value in one SFTConfigError line."""
    if train_on not in TRAIN_ON:
        raise SFTConfigError(f"train_on={train_on!r}: expected one of {', '.join(TRAIN_ON)}")
    if truncation not in TRUNCATION:
        raise SFTConfigError(f"truncation={truncation!r}: expected one of {', '.join(TRUNCATION)}")


def render_row(
    row: Mapping,
    tokenizer,
    file: str,
    number: int,
    *,
    train_on: str = "completion",
    max_length: int | None = None,
    truncation: str = "left",
    chat_template: str | None = None,
) -> Rendered:
    """Encode one row (any of the three shapes, checked by `row_shape`) for causal-LM SFT.

    `tokenizer`: a transformers fast tokenizer (offsets are needed); `chat_template`: a Jinja
    template to use instead of the tokenizer's. Raises SFTConfigError for a bad option or a
    slow tokenizer, SFTDataError ('<file> row <number>: ...') for a bad row, a template that
    fails on it or renders its turns inconsistently, an empty mask, or a row too long.
    """
    check_options(train_on, truncation)
    if not getattr(tokenizer, "is_fast", False):
        raise SFTConfigError(
            f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer: the loss mask "
            "needs its character offsets (load it with use_fast=True)"
        )
    at = where(file, number)
    shape = row_shape(row, file, number)
    text, spans = _render(row, shape, tokenizer, chat_template, train_on, at)
    ids, offsets = encode_text(tokenizer, text)
    trained = _mask(offsets, spans) if train_on != "all" else [True] * len(ids)
    if not any(trained):
        raise SFTDataError(f"{at}: no token to train on (train_on={train_on})")
    # The answer's first token: left truncation may drop tokens before it only.
    answer = _first_overlapping(offsets, spans[-1]) if spans else len(ids)
    ids, trained, dropped = _truncate(tokenizer, ids, trained, answer, max_length, truncation, at)
    labels = [token if keep else IGNORE for token, keep in zip(ids, trained)]
    return Rendered(input_ids=ids, labels=labels, truncated=dropped)


def _render(row, shape, tokenizer, chat_template, train_on, at) -> tuple[str, list[tuple]]:
    """The row's text and the character spans trained under `train_on` ("all": the answer
    spans still, for truncation), in text order."""
    template = chat_template or getattr(tokenizer, "chat_template", None)
    if shape == TEXT:
        if train_on != "all":
            raise SFTDataError(
                f"{at}: a 'text' row has no completion or assistant turn to train on "
                f"(train_on={train_on}; use train_on=all for text rows)"
            )
        return _with_eos(row["text"], tokenizer), []
    if shape == PROMPT_COMPLETION and not template:
        # No template (a base model): the completion follows the prompt as written.
        prompt = row["prompt"]
        text = _with_eos(prompt + row["completion"], tokenizer)
        return text, [(len(prompt), len(text))]
    if not template:
        raise SFTDataError(
            f"{at}: a 'messages' row needs a chat template, and the tokenizer has none "
            "(name one in config)"
        )
    if shape == PROMPT_COMPLETION:
        messages = [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]},
        ]
    else:
        messages = check_messages(row["messages"], at)  # plain dicts, from a numpy list too
    turns = [i for i, turn in enumerate(messages) if turn["role"] == "assistant"]
    if not turns and train_on != "all":
        raise SFTDataError(f"{at}: no assistant turn to train on (train_on={train_on})")
    if train_on == "completion":
        turns = turns[-1:]
    text = apply_template(tokenizer, messages, template, False, at)
    spans = []
    for index in turns:
        before = apply_template(tokenizer, messages[:index], template, True, at)
        upto = apply_template(tokenizer, messages[: index + 1], template, False, at)
        if not (upto.startswith(before) and text.startswith(upto)):
            raise SFTDataError(
                f"{at}: the chat template renders turns up to message {index} differently "
                "from the whole conversation, so the assistant turn cannot be located"
            )
        # The turn's whitespace after its end-of-turn token ("\n" in ChatML) is layout,
        # not something the model should learn to emit.
        end = len(upto.rstrip())
        if end <= len(before):
            raise SFTDataError(f"{at}: the chat template renders message {index} as nothing")
        spans.append((len(before), end))
    return text, spans


def apply_template(tokenizer, messages, template, generation_prompt: bool, at: str) -> str:
    """The template's text for `messages` (the Jinja errors of a template are the row's)."""
    try:
        return tokenizer.apply_chat_template(
            messages,
            chat_template=template,
            add_generation_prompt=generation_prompt,
            tokenize=False,
        )
    except Exception as error:  # jinja2's TemplateError and the template's raise_exception
        raise SFTDataError(f"{at}: the chat template failed: {first_line(error)}") from error


def _with_eos(text: str, tokenizer) -> str:
    eos = tokenizer.eos_token
    return text if not eos or text.endswith(eos) else text + eos


def encode_text(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of `text` (a template's rendering, or a plain text),
    with BOS once: the tokenizer's defaults unless the text already starts with its
    `bos_token` (see the module docstring)."""
    bos = tokenizer.bos_token
    defaults = not (bos and text.startswith(bos))
    encoded = tokenizer(
        text, add_special_tokens=defaults, return_offsets_mapping=True, verbose=False
    )
    return list(encoded["input_ids"]), [tuple(pair) for pair in encoded["offset_mapping"]]


def _overlaps(offset: tuple[int, int], span: tuple[int, int]) -> bool:
    start, end = offset
    # A special token the tokenizer adds (BOS) covers no characters: (0, 0).
    return start < end and start < span[1] and end > span[0]


def _mask(offsets, spans) -> list[bool]:
    return [any(_overlaps(offset, span) for span in spans) for offset in offsets]


def _first_overlapping(offsets, span) -> int:
    return next(i for i, offset in enumerate(offsets) if _overlaps(offset, span))


def _truncate(tokenizer, ids, trained, answer, max_length, truncation, at):
    """Drop tokens from the left of the prompt (after a leading BOS) so `ids` fit
    `max_length`; the tokens from `answer` on are kept whole. Returns ids, mask, count."""
    if max_length is None or len(ids) <= max_length:
        return ids, trained, 0
    if truncation == "refuse":
        raise SFTDataError(
            f"{at}: {len(ids)} tokens, longer than max_length {max_length} (truncation=refuse)"
        )
    start = 1 if tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id else 0
    drop = len(ids) - max_length
    if start + drop > answer:
        kept = " and BOS" if start else ""
        raise SFTDataError(
            f"{at}: the answer ({len(ids) - answer} tokens{kept}) does not fit "
            f"max_length {max_length}"
        )
    keep = slice(start + drop, None)
    return ids[:start] + ids[keep], trained[:start] + trained[keep], drop
