"""Build objects from config nodes (`_target_`) with Hydra, keeping sft's one-line errors."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate

from sft.errors import SFTError


def instantiate(config, **kwargs):
    """`hydra.utils.instantiate`, with our own errors passed through as they are.

    Hydra wraps whatever a target raises in InstantiationException; an SFTError inside is
    the user's to fix, so it keeps its one-line message.
    """
    try:
        return hydra_instantiate(config, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, SFTError):
            raise err.__cause__ from None
        raise
