"""The three row shapes of causal-LM SFT data, told apart and checked one row at a time.

A row is a mapping (a JSONL object, a CSV/Parquet record, a 🤗 datasets row) in one of:

- `text`: a string trained on as it is (pretraining-style continuation);
- `prompt` + `completion`: two strings, the completion non-empty;
- `messages`: a list of `{"role": ..., "content": ...}` turns, roles `system`, `user`,
  `assistant`, contents strings, an assistant's content non-empty.

A column that holds None (a missing CSV cell, a Parquet null) counts as absent, so a file may
mix shapes row by row. A row that has no shape, or two (`messages` beside `prompt` +
`completion`, `text` beside either), is refused: sft would have to guess which to train on.
Every refusal is one `SFTDataError` line naming the file and row the caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sft.errors import SFTDataError

TEXT = "text"
PROMPT_COMPLETION = "prompt_completion"
MESSAGES = "messages"
SHAPES = (TEXT, PROMPT_COMPLETION, MESSAGES)
ROLES = ("system", "user", "assistant")


def where(file: str, row: int) -> str:
    """The place a one-line error names: '<file> row <row>' (the row as the caller counts)."""
    return f"{file} row {row}"


def _present(row: Mapping, key: str) -> bool:
    return row.get(key) is not None


def row_shape(row: Mapping, file: str, number: int) -> str:
    """The shape of one row: TEXT, PROMPT_COMPLETION or MESSAGES, after checking its values.

    Raises SFTDataError (one line, '<file> row <number>: ...') for a row with no shape or two,
    a value of the wrong type, an empty completion, a message that is not a role/content
    mapping, an unknown role, or an empty assistant turn.
    """
    at = where(file, number)
    if not isinstance(row, Mapping):
        raise SFTDataError(f"{at}: a row must be an object with keys, got {type(row).__name__}")
    found = [MESSAGES] if _present(row, "messages") else []
    prompt, completion = _present(row, "prompt"), _present(row, "completion")
    if prompt and completion:
        found.append(PROMPT_COMPLETION)
    if _present(row, "text"):
        found.append(TEXT)
    if not found and prompt != completion:
        # Only one half: say which is missing (beside `messages`, a lone `prompt` is the
        # conversation's first turn, as in UltraChat, and is ignored).
        have, lack = ("prompt", "completion") if prompt else ("completion", "prompt")
        raise SFTDataError(f"{at}: has '{have}' but no '{lack}'")
    if not found:
        keys = ", ".join(sorted(map(str, row))) or "none"
        raise SFTDataError(
            f"{at}: no 'text', 'prompt' + 'completion' or 'messages' (its keys: {keys})"
        )
    if len(found) > 1:
        raise SFTDataError(f"{at}: has both {found[0]!r} and {found[1]!r}; keep one shape a row")
    shape = found[0]
    if shape == TEXT:
        _check_string(row["text"], "'text'", at, empty_ok=False)
    elif shape == PROMPT_COMPLETION:
        _check_string(row["prompt"], "'prompt'", at, empty_ok=True)
        _check_string(row["completion"], "'completion'", at, empty_ok=False)
    else:
        check_messages(row["messages"], at)
    return shape


def _check_string(value, name: str, at: str, empty_ok: bool) -> None:
    if not isinstance(value, str):
        raise SFTDataError(f"{at}: {name} must be a string, got {type(value).__name__}")
    if not empty_ok and not value.strip():
        raise SFTDataError(f"{at}: {name} is empty")


def check_messages(messages, at: str) -> list[dict]:
    """The turns of a `messages` value as plain dicts, checked; `at` is the place to name.

    A Parquet list column arrives as a numpy array: anything with `tolist` is read as a list;
    a CSV cell is text: it is read as JSON. Raises SFTDataError for text that is not JSON, a
    value that is not a non-empty list of role/content mappings, an unknown role, a content
    that is not a string, or an empty assistant content.
    """
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError as err:
            raise SFTDataError(f"{at}: 'messages' is text but not JSON ({err})") from None
    if hasattr(messages, "tolist"):
        messages = messages.tolist()
    if not isinstance(messages, (list, tuple)) or not messages:
        raise SFTDataError(f"{at}: 'messages' must be a non-empty list of role/content turns")
    turns = []
    for index, turn in enumerate(messages):
        if not isinstance(turn, Mapping) or "role" not in turn or "content" not in turn:
            raise SFTDataError(f"{at}: message {index} must have 'role' and 'content'")
        role, content = turn["role"], turn["content"]
        if role not in ROLES:
            raise SFTDataError(
                f"{at}: message {index} has unknown role {role!r} (known: {', '.join(ROLES)})"
            )
        if not isinstance(content, str):
            raise SFTDataError(
                f"{at}: message {index} ({role}) content must be a string, "
                f"got {type(content).__name__}"
            )
        if role == "assistant" and not content.strip():
            raise SFTDataError(f"{at}: message {index} (assistant) is empty")
        turns.append({"role": role, "content": content})
    return turns
