"""Prediction for the causal-LM family: prompts or conversations in, generated text out, for
`sft.load(...).generate`, `predict` (sft-predict, the served MLflow model) and serving.

An input is one of: a string (a prompt: one user turn under the chat template, as a
`prompt` + `completion` row trains it), a row mapping (`{"prompt": ...}`, `{"messages":
[...]}`, `{"text": ...}`: rendered as generate.prompt_ids renders training's rows up to the
answer), or a conversation given as its list of role/content turns. `inputs` is a list of
those, or one of them alone (a conversation's turn list counts as one input).

The saved model's spec says how it was prompted and how it generates (the chat template
named in config, `generation`: `max_new_tokens`, `num_beams`: the data module's
spec_fields); the caller may override
the generation settings. A prompt longer than the model's max_length loses tokens from its
left, as training's rows did (BOS kept), and a warning counts them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence

from sft.errors import SFTConfigError, SFTDataError

log = logging.getLogger(__name__)

# Generation settings when neither the call nor the model folder names them.
DEFAULTS = {"max_new_tokens": 32, "num_beams": 1}


class GenerativeMembers:
    """The members a generating task adds to sft.tasks.base.Task, asked by generic code
    when present: `generate` (sft.inference.predictor.Predictor.generate, serving) and the
    model card's family text (`card_lines`, `usage_lines`: card.py)."""

    def generate(
        self, predictor, inputs, batch_size: int = 8, progress: bool = False, **settings
    ) -> list[str]:
        """The generated text of each input, in order (generate_texts)."""
        return generate_texts(predictor, inputs, batch_size, progress, **settings)

    def input_rows(self, frame, source: str, stdin: bool = False, start: int = 1) -> list[dict]:
        """sft-predict's inputs from its table: one row per record (input_rows)."""
        return input_rows(frame, source, stdin, start)

    def example_inputs(self, datamodule, count: int = 2) -> list:
        """The logged model's input example (example_prompts)."""
        return example_prompts(datamodule, count)

    def card_lines(self, cfg, datamodule, module, test_metrics: dict) -> list[str]:
        """The model card's sections on what the model was tuned on and how it was
        evaluated (card.py)."""
        from sft.tasks.causal_lm.card import card_lines  # light; kept apart from prediction

        return card_lines(cfg, datamodule, module, test_metrics)

    def usage_lines(self, uri: str, datamodule) -> list[str]:
        """The model card's intended use and "How to use": sft, HTTP, and transformers
        alone (card.py)."""
        from sft.tasks.causal_lm.card import usage_lines  # light; kept apart from prediction

        return usage_lines(uri, datamodule)


def as_rows(inputs) -> list[Mapping]:
    """The inputs as rows (see the module docstring): a string -> {"prompt": string}, a
    conversation's turns -> {"messages": turns}, a row mapping as it is. SFTDataError (one
    line, naming the input's index) for anything else or for no input."""
    if isinstance(inputs, (str, Mapping)) or _is_conversation(inputs):
        inputs = [inputs]
    if not isinstance(inputs, Sequence) and not hasattr(inputs, "tolist"):
        raise SFTDataError(f"expected prompts, rows or conversations, got {type(inputs).__name__}")
    rows = []
    for i, item in enumerate(inputs.tolist() if hasattr(inputs, "tolist") else inputs):
        if isinstance(item, str):
            rows.append({"prompt": item})
        elif isinstance(item, Mapping):
            rows.append(item)
        elif _is_conversation(item):
            rows.append({"messages": list(item)})
        else:
            raise SFTDataError(
                f"input {i}: expected a prompt, a row with 'prompt', 'messages' or 'text', or a "
                f"list of role/content turns; got {type(item).__name__}"
            )
    if not rows:
        raise SFTDataError("no inputs: give a prompt, a row or a conversation")
    return rows


def input_rows(frame, source: str, stdin: bool = False, start: int = 1) -> list[dict]:
    """The rows of sft-predict's input table (a pandas DataFrame read from `source`): each
    record with its missing cells (NaN, None) dropped, so a file may mix `prompt`,
    `messages` and `text` rows; a `messages` cell holding JSON text (CSV has no lists) is
    parsed. `stdin`: the table holds one line per row in its one column, read as prompts.
    SFTDataError naming the file and row (the frame's first is row `start`: sft-predict
    reads in chunks) for a row without a prompt, a messages cell that is not JSON or not
    role/content turns."""
    import pandas as pd  # light: the table is one already

    from sft.tasks.causal_lm.generate import prompt_parts  # light
    from sft.tasks.causal_lm.rows import check_messages, where

    if stdin:
        return [{"prompt": str(line)} for line in frame.iloc[:, 0]]
    rows = []
    for number, record in enumerate(frame.to_dict(orient="records"), start=start):
        row = {key: value for key, value in record.items() if not _missing(value, pd)}
        if isinstance(row.get("messages"), str):  # a CSV cell: JSON text
            row["messages"] = check_messages(row["messages"], where(source, number))
        prompt_parts(row, where(source, number))  # checked here, where the file is known
        rows.append(row)
    return rows


def _missing(value, pd) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array cell (messages): present
        return False


def example_prompts(datamodule, count: int = 2) -> list:
    """The first `count` rows' inputs without their answers (test split first): a prompt's
    text, a conversation's turns before its answer (one user turn: its text), a text row as
    `{"text": ...}`."""
    from sft.tasks.causal_lm.generate import prompt_parts  # light
    from sft.tasks.causal_lm.rows import where

    for split in ("test", "val", "train"):
        rows = datamodule.examples.get(split)
        if rows is None or not len(rows):
            continue
        inputs = []
        for record, number in zip(rows.records[:count], rows.rows[:count]):
            messages, shown, _ = prompt_parts(record, where(rows.source, int(number)))
            if record.get("text") is not None:
                inputs.append({"text": shown})
            else:
                inputs.append(messages if messages and len(messages) > 1 else shown)
        return inputs
    return []


def _is_conversation(value) -> bool:
    """A non-empty list of role/content mappings (one conversation)."""
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(turn, Mapping) and "role" in turn for turn in value)
    )


def settings_of(spec: dict, net, **given) -> dict[str, int]:
    """`max_new_tokens` and `num_beams`: those given (None: not given), else the model
    spec's (`generation`: data.generation's), else the model's generation config's, else
    DEFAULTS. SFTConfigError naming the setting for a value that is not an integer >= 1."""
    config = getattr(net, "generation_config", None)
    saved = spec.get("generation") or {}
    settings = {}
    for key, default in DEFAULTS.items():
        value = given.get(key)
        if value is None:
            value = saved.get(key)
        if value is None:
            value = getattr(config, key, None)
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SFTConfigError(f"{key}={value!r}: must be an integer >= 1")
        settings[key] = value
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise SFTConfigError(
            f"unknown generation setting '{unknown[0]}' (known: {', '.join(DEFAULTS)})"
        )
    return settings


def encode_prompts(predictor, rows: list[Mapping], file: str = "input") -> list[list[int]]:
    """Token ids of each row's prompt (generate.prompt_ids, under the spec's chat template
    or the tokenizer's), cut from the left to the model's max_length (BOS kept) with a
    warning that counts the cut prompts. `file` names the rows' source in errors (row
    numbers from 1)."""
    from sft.tasks.causal_lm.generate import prompt_ids  # light: the tokenizer is loaded

    tokenizer, template = predictor.tokenizer, predictor.spec.get("chat_template")
    limit = int(predictor.max_length)
    prompts, cut = [], 0
    for number, row in enumerate(rows, start=1):
        ids = prompt_ids(row, tokenizer, template, file=file, number=number)
        if len(ids) > limit:
            keep = 1 if ids[0] == tokenizer.bos_token_id else 0
            ids = ids[:keep] + ids[len(ids) - (limit - keep) :]
            cut += 1
        prompts.append(ids)
    if cut:
        log.warning(
            "%d of %d prompts were longer than max_length=%d tokens and lost tokens from "
            "their left (as training's rows did)",
            cut,
            len(rows),
            limit,
        )
    return prompts


def generate_texts(
    predictor, inputs, batch_size: int = 8, progress: bool = False, file: str = "input", **given
) -> list[str]:
    """The text the predictor's model (`predictor.runner.net`, a transformers causal LM)
    writes after each input, in order: generate.generate over batches sorted by prompt
    length (little padding). `given`: max_new_tokens, num_beams (None: the model's)."""
    from tqdm.auto import tqdm  # light; with the predictor

    from sft.tasks.causal_lm.generate import generate  # lazy: torch

    net = getattr(predictor.runner, "net", None)
    if net is None:  # an ONNX folder: no generation loop was exported
        raise SFTConfigError(f"{predictor.folder}: generation needs the PyTorch weights")
    settings = settings_of(predictor.spec, net, **given)
    prompts = encode_prompts(predictor, as_rows(inputs), file)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    texts: list[str] = [""] * len(prompts)
    step = max(1, int(batch_size))
    bar = tqdm(
        total=len(prompts), unit="prompt", disable=not progress, file=sys.stderr, leave=False
    )
    for start in range(0, len(order), step):
        batch = order[start : start + step]
        made = generate(
            net, predictor.tokenizer, [prompts[i] for i in batch], batch_size=step, **settings
        )
        for i, text in zip(batch, made):
            texts[i] = text
        bar.update(len(batch))
    bar.close()
    return texts


def predict_records(
    predictor, inputs, batch_size: int = 8, progress: bool = False, **given
) -> list[dict]:
    """One {"text": generated text} per input (generate_texts; `given`: max_new_tokens,
    num_beams, None or absent: the model's)."""
    texts = generate_texts(predictor, inputs, batch_size, progress, **given)
    return [{"text": text} for text in texts]
