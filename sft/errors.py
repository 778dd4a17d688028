"""The errors a user can cause (a bad config, bad data, a diverging run) and a stopped run.

Entry points print them as one line and exit with status 2 (1 for a diverging run, 128 + the
signal for a stopped one); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

# An ANSI terminal escape (colours, cursor moves): first_line drops them.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class SFTError(Exception):
    """Base class of the errors that are the user's to fix."""

    exit_code = 2  # a usage error: the config or the data


class SFTConfigError(SFTError):
    """A config key, value or combination of choices that cannot work."""


class SFTDataError(SFTError):
    """A data file, row or column that cannot be used."""


class SFTTrainingError(SFTError):
    """Training cannot go on (the loss became NaN or infinite)."""

    exit_code = 1


class RunInterrupted(SystemExit):
    """SIGINT or SIGTERM stopped the run; `message` says where its checkpoint is.

    A SystemExit, so that Lightning and Hydra pass it through untouched; the exit status is
    128 + the signal's number, as a shell reports a process the signal ended.
    """

    def __init__(self, message: str, signum: int):
        super().__init__(128 + int(signum))
        self.message = message


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error's message (its type's name when it has none), for
    one-line errors that quote a library's complaint."""
    # Terminal colour codes (torch's ONNX exporter writes them) are no part of a message.
    text = _ANSI.sub("", str(error))
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__ if isinstance(error, BaseException) else "unknown error"
