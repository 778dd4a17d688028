"""The tracking store, checked before a run starts (the URI itself: sft.config.uris).

A store that cannot be used (a server that does not answer, a database that cannot be
written) fails at once with one line naming logger.tracking_uri, instead of a traceback or
MLflow's minutes of retries. Several processes may share one SQLite store: creating its
tables is done by one of them at a time (a file lock), and a write that finds the database
locked is retried with backoff.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from sft.errors import SFTConfigError, first_line

RETRIES = 12


def with_retry(call, *args, **kwargs):
    """Run an MLflow client call, retrying while SQLite reports a locked database."""
    for attempt in range(RETRIES):
        try:
            return call(*args, **kwargs)
        except Exception as err:  # MlflowException wraps sqlalchemy's OperationalError
            if "database is locked" not in str(err) or attempt == RETRIES - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def open_client(uri: str):
    """An MlflowClient for `uri`, checked: one line, at once, when the store cannot be used."""
    # lazy, like every MLflow import here: the CLI imports this module (through the sweep
    # callback) for every app, --help included; MLflow loads when a store is opened
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if uri.startswith(("http://", "https://")):
        _check_server(uri)
        return MlflowClient(uri)
    try:
        # A client creates or upgrades the store's tables: one process at a time, or two that
        # start on a new store both try to create them and one fails.
        with _creation_lock(uri):
            _create_sqlite_store(uri)
            client = MlflowClient(uri)
            with_retry(client.search_experiments, max_results=1)
        return client
    except MlflowException as err:
        raise SFTConfigError(
            f"logger.tracking_uri: cannot use the tracking store {uri} ({first_line(err)})"
        ) from None
    except OSError as err:  # the lock file: a folder that cannot be written
        raise SFTConfigError(
            f"logger.tracking_uri: cannot use the tracking store {uri} "
            f"({err.strerror}: {err.filename})"
        ) from None


@contextlib.contextmanager
def _creation_lock(uri: str):
    """An exclusive lock on `<db>.lock` beside a SQLite store (no lock for other stores)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(f"{uri[len('sqlite:///') :]}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Where a new store's tables are built: memory-backed, so the ~1800 statements and ~90
# commits of MLflow's migrations do not each wait for the disk. Measured under load on this
# project's 2-core machine: 3.5-8.9 s on disk, 1.5 s in /dev/shm.
SCRATCH = "/dev/shm"


def _create_sqlite_store(uri: str) -> None:
    """A SQLite store that does not exist yet: create its tables in SCRATCH (where there is
    one) and move the finished file into place, whole or not at all. Call under the lock."""
    if not uri.startswith("sqlite:///") or "?" in uri:  # query options: MLflow's own way
        return
    path = Path(uri[len("sqlite:///") :])
    if path.exists() or not os.access(SCRATCH, os.W_OK):
        return  # MLflow checks (and, if needed, upgrades) an existing store itself
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH  # lazy: as above
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(dir=SCRATCH, prefix="sft-store-") as scratch:
        built = Path(scratch) / "mlflow.db"
        # The artifact root MlflowClient gives a new store: its Default experiment points there.
        store = SqlAlchemyStore(f"sqlite:///{built}", DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
        store.engine.dispose()  # closed: the file is complete (no journal left)
        staging = path.with_name(f".{path.name}.{os.getpid()}.new")
        try:
            shutil.copyfile(built, staging)  # SCRATCH is another file system: copy, then
            with open(staging, "rb+") as copied:
                os.fsync(copied.fileno())  # one wait for the disk instead of ~1800
            os.replace(staging, path)  # rename in the same folder, atomically
        finally:
            staging.unlink(missing_ok=True)


def _check_server(uri: str, timeout_s: float = 5.0) -> None:
    """One quick request: any HTTP answer means a server is there; no answer is an error."""
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # it answered (perhaps behind auth or a proxy): MLflow's calls will tell
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        reason = getattr(reason, "strerror", None) or str(reason)
        raise SFTConfigError(
            f"logger.tracking_uri: cannot reach the MLflow tracking server at {uri} ({reason})"
        ) from None
