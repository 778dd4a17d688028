"""The errors a user can cause (a bad config, bad data, a diverging run) and a stopped run.

Entry points print them as one line and exit with status 2 (1 for a diverging run, 128 + the
signal for a stopped one); anything else is a bug and keeps its traceback.
"""


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


def instantiate(config, **kwargs):
    """`hydra.utils.instantiate`, with our own errors passed through as they are.

    Hydra wraps whatever a target raises in InstantiationException; an SFTError inside is
    the user's to fix, so it keeps its one-line message.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(config, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, SFTError):
            raise err.__cause__ from None
        raise
