"""`sft-serve model_uri=... [port=5000] [host=127.0.0.1]`: serve a trained model over HTTP.

MLflow's scoring server (the one `mlflow models serve` starts) runs in this process, so the
command works from any shell: `mlflow models serve` starts `uvicorn` through the shell and
fails with "uvicorn: not found" unless the virtual environment is activated.
"""

from __future__ import annotations

import errno
import socket

from sft.cli import run_app
from sft.errors import SFTConfigError


def serve_task(cfg) -> None:
    """Check the config, load the model, answer requests until SIGINT / SIGTERM."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import ServeSchema, validate_app

    validate_app(cfg, ServeSchema)
    check_port(str(cfg.host), int(cfg.port))  # before the model loads (seconds to minutes)
    from sft.inference.server import serve  # lazy: MLflow, torch, uvicorn once the config is good

    serve(str(cfg.model_uri), str(cfg.tracking_uri), str(cfg.host), int(cfg.port))


def check_port(host: str, port: int) -> None:
    """Raise SFTConfigError (one line, naming `port`) when nothing can listen on host:port:
    taken by another server, or a host this machine is not. Checked by binding it a moment
    (SO_REUSEADDR, as uvicorn binds: a port whose last connections are closing is free)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise SFTConfigError(
                    f"port={port}: {host}:{port} is in use (another server listens there); "
                    f"stop it or choose another port, e.g. port={port + 1}"
                ) from None
            raise SFTConfigError(
                f"host={host} port={port}: cannot listen there ({err.strerror or err})"
            ) from None


def main() -> None:
    run_app(serve_task, config_name="serve", prog="sft-serve")


if __name__ == "__main__":
    main()
