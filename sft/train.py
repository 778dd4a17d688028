"""`sft-train`: fine-tune as configured in conf/train.yaml plus command-line overrides."""

from __future__ import annotations

from sft.cli import CONF_DIR, run_app


def train_task(cfg):
    """Validate the composed config (cheap), then run the training (heavy imports); with
    `resume=<run id>` or `resume=last`, continue that run instead."""
    from sft.config.schema import validate  # lazy, like every import below: --help stays light
    from sft.tasks.checks import check_config  # light: numpy and pandas, no torch

    validate(cfg)
    check_config(cfg)
    resume = None
    if cfg.get("resume") is not None:
        from sft.training.resume import resume_config  # lazy: MLflow only to find the run
        from sft.training.run_outputs import hydra_overrides

        cfg, resume = resume_config(cfg, hydra_overrides())
        validate(cfg)
        check_config(cfg)
    # lazy, light: a model that cannot load offline fails before torch is imported (train()
    # checks again, for the runs that reach it another way: reproduce, DDP children)
    from sft.training.preflight import check_model_source

    check_model_source(cfg.model.name_or_path)
    from sft.training.cv import repeats, train_repeats  # lazy: as train, below

    if repeats(cfg):  # cv.folds / seeds: a parent run over child runs
        return train_repeats(cfg)
    from sft.training.run import train  # lazy: torch and Lightning once the config is good

    return train(cfg, resume).best_score  # what a sweeper optimizes


def main() -> None:
    # A DDP child rank that Lightning started: rank zero's config, not a new Hydra run.
    from sft.training.distributed import child_launch  # light: no torch before --help

    launch = child_launch()
    if launch is not None:
        from sft.training.ddp_child import run_child  # heavy: this process trains at once

        run_child(launch)
        return
    run_app(train_task, config_name="train", prog="sft-train", config_dir=CONF_DIR)


if __name__ == "__main__":
    main()
