"""The two errors a user can cause: a bad config and bad data.

Entry points print them as one line and exit with status 2; anything else is a bug and keeps
its traceback.
"""


class SFTError(Exception):
    """Base class of the errors that are the user's to fix."""


class SFTConfigError(SFTError):
    """A config key, value or combination of choices that cannot work."""


class SFTDataError(SFTError):
    """A data file, row or column that cannot be used."""


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
