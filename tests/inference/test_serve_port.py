"""`sft-serve` on a port that is taken fails at once, in one line, before it loads the model
(which takes seconds to minutes): it used to load the model and then die in uvicorn's
"address already in use" traceback."""

from __future__ import annotations

import socket
import time

import pytest

from conftest import run_sft
from sft.errors import SFTConfigError
from sft.serve import check_port


def test_a_port_in_use_is_refused_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SFTConfigError, match=rf"^port={port}: 127.0.0.1:{port} is in use"):
            check_port("127.0.0.1", port)
        started = time.monotonic()
        # a model_uri that does not exist: had the model been loaded first, the error would
        # name model_uri; the port is named, so it was checked first
        done = run_sft("serve", f"model_uri={tmp_path / 'no-model'}", f"port={port}", cwd=tmp_path)
    took = time.monotonic() - started
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and f"port={port}: 127.0.0.1:{port} is in use" in errors[0], errors
    assert "model_uri" not in done.stderr
    assert took < 60  # the interpreter's start-up, no model load (a bound, not a timing claim)


def test_a_free_port_passes_and_stays_free(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port)
    with socket.socket() as again:  # the check let go of it
        again.bind(("127.0.0.1", port))
