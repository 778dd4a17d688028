"""`sft-leaderboard [sweep=<name|id>] [experiment=<name>]`: a sweep's or an experiment's runs,
ranked, in the terminal (the tables themselves: sft.tracking.leaderboard)."""

from __future__ import annotations

from sft.cli import run_app


def leaderboard_task(cfg) -> None:
    """Print a sweep's or an experiment's leaderboard; SFTConfigError when there is none."""
    from mlflow import MlflowClient  # lazy: `--help` answers without MLflow

    from sft.config.uris import absolute_tracking_uri
    from sft.errors import SFTConfigError
    from sft.tracking.leaderboard import (
        child_runs,
        experiment_runs,
        find_sweep,
        leaderboard,
        monitor_of,
        terminal_table,
        varying_params,
    )

    client = MlflowClient(absolute_tracking_uri(cfg.tracking_uri))
    if cfg.sweep or not cfg.experiment:
        parent = find_sweep(client, cfg.sweep, cfg.experiment)
        runs = child_runs(client, parent.info.run_id)
        keys = [k for k in parent.data.tags.get("sft.swept_keys", "").split(",") if k]
        title = f"Sweep '{parent.info.run_name}' (parent run {parent.info.run_id})"
    else:
        runs = experiment_runs(client, cfg.experiment)
        keys = varying_params(runs)
        title = f"Experiment '{cfg.experiment}' ({len(runs)} runs)"
    if not runs:
        raise SFTConfigError(f"no runs to rank in {title}")
    metric, mode = monitor_of(runs)
    metric = cfg.metric or metric
    print(title)
    # keys and metrics that vary; what every run shares in one line below the table
    print(terminal_table(leaderboard(runs, keys, metric, mode), keys, metric, constants=True))


def main() -> None:
    run_app(leaderboard_task, config_name="leaderboard", prog="sft-leaderboard")


if __name__ == "__main__":
    main()
