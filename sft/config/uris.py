"""Where runs are recorded: the one home of the default tracking URI.

Every app's YAML names it as `${sft.tracking_uri:<outputs folder>}` (a resolver registered on
import of this module), so the default is written here once: MLflow's embedded SQLite store
under the outputs folder (the file store is legacy in MLflow 3).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from sft.errors import SFTConfigError

DB_FILE = "mlflow.db"


def default_tracking_uri(outputs: str = "outputs") -> str:
    """`sqlite:///<outputs>/mlflow.db` (the outputs folder as given: relative or absolute)."""
    return f"sqlite:///{Path(str(outputs)) / DB_FILE}"


def absolute_tracking_uri(uri: str) -> str:
    """sqlite:///relative.db -> sqlite:////abs/relative.db (creating the folder); others as given.

    Raises SFTConfigError (naming logger.tracking_uri) when the folder cannot be created.
    """
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :]).expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SFTConfigError(
                f"logger.tracking_uri: cannot create {err.filename or path.parent} ({err.strerror})"
            ) from None
        return f"sqlite:///{path}"
    return uri


def reading_tracking_uri(uri: str, key: str = "tracking_uri") -> str:
    """The absolute URI of a store to READ from (sft-predict, sft-serve, sft-export,
    sft-explain): as `absolute_tracking_uri`, but a SQLite store must exist already. MLflow
    would create an empty one (and its folder) wherever the command ran, then say that the
    model is not found there.

    Raises SFTConfigError naming `key` and the missing file.
    """
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :]).expanduser().resolve()
        if not path.is_file():
            raise SFTConfigError(
                f"{key}: no MLflow store at {path} (run the command where you trained, "
                f"or pass tracking_uri=sqlite:///<path to its {DB_FILE}>)"
            )
        return f"sqlite:///{path}"
    return uri


OmegaConf.register_new_resolver("sft.tracking_uri", default_tracking_uri, replace=True)
