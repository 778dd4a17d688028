"""`sft-reproduce run_id=<id>`: rerun a logged run from its logged config and compare metrics.

A run logs its resolved config (artifact `config.yaml`), seed, data hashes, package versions
and git state. The rerun uses that config as it is (only the run folder is new), so on the
same machine and code every metric must come out identical, to the last digit.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError


def reproduce_task(cfg) -> None:
    """Rerun `cfg.run_id` and print its metrics beside the original's; exit 1 on a mismatch."""
    # lazy: MLflow and the training stack load after --help and config errors are answered
    from hydra.core.hydra_config import HydraConfig
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from sft.config.schema import validate
    from sft.config.uris import absolute_tracking_uri
    from sft.tasks.checks import check_config
    from sft.tracking.mlflow_reading import quiet_downloads
    from sft.training.reproduce import load_logged_config

    uri = absolute_tracking_uri(cfg.tracking_uri)
    client = MlflowClient(uri)
    try:
        original = client.get_run(cfg.run_id)
    except MlflowException:
        raise SFTConfigError(f"run_id: no run '{cfg.run_id}' in {uri}") from None
    with quiet_downloads():  # no download bar for one config.yaml
        run_cfg = load_logged_config(client, original, Path(HydraConfig.get().runtime.output_dir))
    run_cfg.logger.tracking_uri = uri
    validate(run_cfg)
    check_config(run_cfg)
    # lazy: torch and Lightning after the rerun is found
    from sft.training.cv import repeats, train_repeats
    from sft.training.run import train

    if repeats(run_cfg):  # a CV or seed parent: rerun as one, its children under it
        train_repeats(run_cfg)
    else:
        train(run_cfg)
    reruns = client.search_runs(
        [original.info.experiment_id],
        filter_string=f"tags.`sft.reproduces` = '{cfg.run_id}'",
        order_by=["attributes.start_time DESC"],
    )
    # a parent's children carry the tag too: the rerun is the newest run not nested under it
    rerun = next(r for r in reruns if "mlflow.parentRunId" not in r.data.tags)
    report(original, rerun)


def report(original, rerun) -> None:
    """Print the comparison; exit 1 when any metric differs."""
    from sft.training.reproduce import CHECKED_TAGS, compare  # lazy, as reproduce_task's

    rows = compare(original.data.metrics, rerun.data.metrics)
    width = max(len(r[0]) for r in rows)
    print(f"\nRerun {rerun.info.run_id} of {original.info.run_id} ({original.info.run_name}):")
    print(f"  {'metric':<{width}}  {'original':>12}  {'rerun':>12}  match")
    for key, before, after, same in rows:
        shown = "-" if after is None else f"{after:.6g}"
        print(f"  {key:<{width}}  {before:>12.6g}  {shown:>12}  {'yes' if same else 'NO'}")
    for tag in CHECKED_TAGS:
        before, after = original.data.tags.get(tag), rerun.data.tags.get(tag)
        if before != after:
            print(f"  note: {tag} differs: {before} -> {after}")
    differ = sum(not r[3] for r in rows)
    if differ:
        print(f"{differ} of {len(rows)} metrics differ.")
        sys.exit(1)
    print(f"All {len(rows)} metrics match.")


def main() -> None:
    run_app(reproduce_task, config_name="reproduce", prog="sft-reproduce")


if __name__ == "__main__":
    main()
