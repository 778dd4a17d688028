"""Servers the tests start on loopback (sft-serve, mlflow models serve, mlflow server): a free
port, waiting until one answers /ping, and stopping it with the workers it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(proc: subprocess.Popen, port: int, log: Path, seconds: float) -> None:
    """Poll /ping until it answers 200; fail with the server's log when it exits or stays
    silent for `seconds` (a wait for start-up, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not answer in {seconds} s:\n{log.read_text()[-3000:]}")
        time.sleep(1)


def stop_server(proc: subprocess.Popen) -> None:
    """End the server and the workers it started (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def serve_and_ask(
    argv: list[str], port: int, inputs: list[str], cwd: Path, env: dict, body: dict | None = None
) -> dict:
    """Start the serving command `argv` (listening on `port`, its output in cwd/serve.log),
    wait until it answers /ping, POST `{"inputs": inputs}` (or `body`, another request) to
    /invocations, stop it and its workers, and return the JSON answer."""
    log = Path(cwd) / "serve.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        wait_until_serving(proc, port, log, 240)  # start-up, not a timing test
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"inputs": inputs} if body is None else body).encode(),
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    finally:
        stop_server(proc)
        assert proc.returncode is not None
