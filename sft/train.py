"""`sft-train`: fine-tune as configured in conf/train.yaml plus command-line overrides."""

from __future__ import annotations

from sft.cli import run_app


def train_task(cfg):
    """Validate the composed config (cheap), then run the training (heavy imports)."""
    from sft.schema import validate

    validate(cfg)
    from sft.training import train

    return train(cfg)


def main() -> None:
    run_app(train_task, config_name="train", prog="sft-train")


if __name__ == "__main__":
    main()
