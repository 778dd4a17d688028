"""Serving a generating model (a causal LM) as chat and completions: the requests MLflow's
scoring server passes to the MLflow model (sft.inference.mlflow_model), read and answered.

Requests (POST /invocations):
- chat, MLflow's unwrapped LLM format: `{"messages": [{"role": "user", "content": ...}],
  "max_tokens": 32}` -> an OpenAI-style chat completion, `{"object": "chat.completion",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": ...},
  "finish_reason": null}]}`;
- completions: `{"prompt": "..." or ["...", ...], "max_tokens": 32}` -> `{"object":
  "text_completion", "choices": [{"index": i, "text": ...}]}`;
- the tables every sft model takes: `{"inputs": ["prompt", ...]}` (or rows, or
  conversations), or a `dataframe_split` / `dataframe_records` with a `prompt`, `messages`
  or `text` column -> `{"predictions": [{"text": ...}, ...]}`, with `{"params":
  {"max_new_tokens": 8, "num_beams": 1}}` beside them.

`max_tokens` (OpenAI's name) and `max_new_tokens` both set the tokens written per answer, at
most MAX_NEW_TOKENS. Every input is checked first (count, characters, shape): a bad request
raises the caller's RequestError (400, one line).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sft.errors import SFTError

MAX_NEW_TOKENS = 1024  # per answer: bounds a request's time
SETTINGS = ("max_new_tokens", "num_beams")
# OpenAI request fields that ask for what greedy or beam decoding does anyway: accepted.
IGNORED = ("model", "n", "stream", "temperature", "top_p", "stop", "user")
ROW_KEYS = ("prompt", "messages", "text")


def answer(predictor, model_input, params, max_rows: int, max_chars: int, bad):
    """The response to one request (see the module docstring); `bad(message)` makes the
    exception a bad request raises."""
    request = dict(model_input) if isinstance(model_input, Mapping) else None
    if request is not None and "messages" in request:
        settings = _settings({**(params or {}), **_pop_settings(request, bad)}, bad)
        _refuse_extra(request, ("messages",), bad)
        rows = [{"messages": _turns(request["messages"], bad)}]
        check_rows(rows, max_rows, max_chars, bad)
        text = _generate(predictor, rows, settings, bad)[0]
        return _response(
            "chat.completion", [{"message": {"role": "assistant", "content": text}}], predictor
        )
    if request is not None and "prompt" in request and not _is_column(request["prompt"]):
        settings = _settings({**(params or {}), **_pop_settings(request, bad)}, bad)
        _refuse_extra(request, ("prompt",), bad)
        prompts = request["prompt"]
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        rows = [{"prompt": p} for p in prompts]
        check_rows(rows, max_rows, max_chars, bad)
        texts = _generate(predictor, rows, settings, bad)
        return _response("text_completion", [{"text": t} for t in texts], predictor)
    rows = table_rows(model_input, bad)
    check_rows(rows, max_rows, max_chars, bad)
    return [{"text": t} for t in _generate(predictor, rows, _settings(params or {}, bad), bad)]


def _is_column(value) -> bool:
    """A `prompt` column of a table request (a numpy array or pandas Series): not a
    completions request's prompt."""
    return isinstance(value, (np.ndarray, pd.Series))


def _pop_settings(request: dict, bad) -> dict:
    """The generation settings in an unwrapped request, taken out of it."""
    found = {}
    if "max_tokens" in request:
        found["max_new_tokens"] = request.pop("max_tokens")
    for key in SETTINGS:
        if key in request:
            found[key] = request.pop(key)
    for key in IGNORED:
        request.pop(key, None)
    return found


def _refuse_extra(request: dict, known: tuple[str, ...], bad) -> None:
    extra = sorted(set(request) - set(known))
    if extra:
        raise bad(
            f"unknown request field '{extra[0]}' (known: {', '.join(known)}, max_tokens, "
            f"{', '.join(SETTINGS)})"
        )


def _settings(given: Mapping, bad) -> dict:
    """max_new_tokens and num_beams of a request (absent: None, the model's), checked."""
    settings = {}
    for key, value in given.items():
        if key not in SETTINGS:
            if key == "max_tokens":
                key = "max_new_tokens"
            else:
                raise bad(f"unknown parameter '{key}' (known: max_tokens, {', '.join(SETTINGS)})")
        if value is None:
            continue
        if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
            raise bad(f"{key} must be an integer, got {value!r}")
        top = MAX_NEW_TOKENS if key == "max_new_tokens" else 16
        if not 1 <= int(value) <= top:
            raise bad(f"{key}={value}: must be between 1 and {top}")
        settings[key] = int(value)
    return settings


def _turns(messages, bad) -> list:
    if hasattr(messages, "tolist"):
        messages = messages.tolist()
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of role/content turns")
    return messages


def table_rows(model_input, bad) -> list[dict]:
    """The inputs of a table request: a DataFrame (columns prompt, messages or text; one
    column of another name: prompts) or a dict of columns as rows; a list of prompts, rows
    or conversations as it is (the task's generate reads and checks them)."""
    values = model_input
    if isinstance(values, Mapping):
        try:
            values = pd.DataFrame({k: list(v) if _is_column(v) else v for k, v in values.items()})
        except (ValueError, TypeError):
            raise bad("expected columns of values (lists of equal length)") from None
    if isinstance(values, pd.DataFrame):
        columns = [c for c in values.columns if c in ROW_KEYS]
        if not columns and len(values.columns) == 1:
            return [{"prompt": v} for v in values.iloc[:, 0]]
        if not columns:
            raise bad(
                f"no 'prompt', 'messages' or 'text' column "
                f"(columns: {', '.join(map(str, values.columns))})"
            )
        return [
            {k: v for k, v in record.items() if k in ROW_KEYS and not _missing(v)}
            for record in values.to_dict(orient="records")
        ]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, str):
        raise bad('expected a list of prompts, got a single value: send {"inputs": ["..."]}')
    if not isinstance(values, (list, tuple)):
        raise bad(f"expected a list of prompts, got {type(values).__name__}")
    # Prompts, rows or conversations: the task's generate reads them. MLflow's server hands
    # a list of rows with different keys as dicts of numpy arrays (a prompt: a 0-d array),
    # which are made plain values here.
    return [_plain(value) for value in values]


def _plain(value):
    """A row's numpy values as plain ones (0-d: the item; n-d: a list), recursively."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list cell (messages): present
        return False


def check_rows(rows: list, max_rows: int, max_chars: int, bad) -> None:
    """Refuse no rows, too many, an empty prompt, and more than `max_chars` characters in a
    row's text (its prompt, text, or all its turns' contents)."""
    if not rows:
        raise bad('no prompts: send {"messages": [...]}, {"prompt": "..."} or {"inputs": [...]}')
    if len(rows) > max_rows:
        raise bad(f"too many prompts: {len(rows)} in one request (at most {max_rows})")
    for i, row in enumerate(rows):
        value = next((row[k] for k in ROW_KEYS if k in row), None) if _is_row(row) else row
        if isinstance(value, str):
            size = len(value)
            if not value.strip():
                raise bad(f"input {i}: empty prompt")
        elif isinstance(value, (list, tuple, np.ndarray)):
            size = sum(len(str(t.get("content", ""))) for t in value if isinstance(t, Mapping))
        elif isinstance(value, Mapping):  # one turn of a conversation given as the list
            size = len(str(value.get("content", "")))
        else:
            size = 0
        if size > max_chars:
            raise bad(f"input {i}: too long: {size} characters (at most {max_chars})")


def _is_row(value) -> bool:
    return isinstance(value, Mapping) and "role" not in value


def _generate(predictor, rows: list, settings: dict, bad) -> list[str]:
    try:
        return predictor.generate(rows, **settings)
    except SFTError as err:  # a bad row (unknown role, no prompt): the request's fault
        raise bad(str(err)) from None


def _response(kind: str, choices: list[dict], predictor) -> dict:
    """An OpenAI-style response body of `kind` with `choices` numbered in order."""
    return {
        "object": kind,
        "created": int(time.time()),
        "model": str(predictor.folder.name),
        "choices": [
            {"index": i, **choice, "finish_reason": None} for i, choice in enumerate(choices)
        ],
    }
