"""`sft-serve model_uri=... [port=5000] [host=127.0.0.1]`: serve a trained model over HTTP.

MLflow's scoring server (the one `mlflow models serve` starts) runs in this process, so the
command works from any shell: `mlflow models serve` starts `uvicorn` through the shell and
fails with "uvicorn: not found" unless the virtual environment is activated.
"""

from __future__ import annotations

from sft.cli import run_app


def serve_task(cfg) -> None:
    """Check the config, load the model, answer requests until SIGINT / SIGTERM."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import ServeSchema, validate_app

    validate_app(cfg, ServeSchema)
    from sft.inference.server import serve  # lazy: MLflow, torch, uvicorn once the config is good

    serve(str(cfg.model_uri), str(cfg.tracking_uri), str(cfg.host), int(cfg.port))


def main() -> None:
    run_app(serve_task, config_name="serve", prog="sft-serve")


if __name__ == "__main__":
    main()
