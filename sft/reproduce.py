"""`sft-reproduce run_id=<id>`: rerun a logged run from its logged config and compare metrics.

A run logs its resolved config (artifact `config.yaml`), seed, data hashes, package versions
and git state. The rerun uses that config as it is (only the run folder is new), so on the
same machine and code every metric must come out identical, to the last digit.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from sft.errors import SFTConfigError, first_line

# Metrics that measure the machine, not the model: never compared.
UNCOMPARED = ("time/", "perf/", "lr-")
CHECKED_TAGS = ("sft.git_commit", "sft.git_dirty", "sft.version.torch", "sft.version.transformers",
                "sft.version.pytorch-lightning", "sft.data.train_sha256", "sft.data.val_sha256",
                "sft.data.test_sha256")


def load_logged_config(client, run, run_dir: Path):
    """The run's resolved config, pointed at a new run folder and marked as a rerun."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "config.yaml", tmp)
        except Exception as err:  # MlflowException or OSError: no such artifact
            raise SFTConfigError(f"run_id: run {run.info.run_id} has no config.yaml artifact "
                                 f"({first_line(err)})") from None
        text = Path(path).read_text()
    old_dir = OmegaConf.create(text).paths.run_dir
    cfg = OmegaConf.create(text.replace(str(old_dir), str(run_dir)))
    cfg.logger.run_name = f"reproduce {run.info.run_name}"
    cfg.logger.tags = {**(cfg.logger.get("tags") or {}), "sft.reproduces": run.info.run_id}
    return cfg


def compare(original: dict[str, float], rerun: dict[str, float]) -> list[tuple]:
    """(metric, original, rerun, match) for every metric the original logged."""
    rows = []
    for key in sorted(original):
        if key.startswith(UNCOMPARED):
            continue
        value = rerun.get(key)
        same = value is not None and (value == original[key] or (
            math.isnan(value) and math.isnan(original[key])))
        rows.append((key, original[key], value, same))
    return rows


def reproduce_task(cfg) -> None:
    """Rerun `cfg.run_id` and print its metrics beside the original's; exit 1 on a mismatch."""
    from hydra.core.hydra_config import HydraConfig
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from sft.config.schema import validate
    from sft.tracking.mlflow_tracker import absolute_tracking_uri

    uri = absolute_tracking_uri(cfg.tracking_uri)
    client = MlflowClient(uri)
    try:
        original = client.get_run(cfg.run_id)
    except MlflowException:
        raise SFTConfigError(f"run_id: no run '{cfg.run_id}' in {uri}") from None
    run_cfg = load_logged_config(client, original, Path(HydraConfig.get().runtime.output_dir))
    run_cfg.logger.tracking_uri = uri
    validate(run_cfg)
    from sft.training.run import train

    train(run_cfg)
    rerun = client.search_runs([original.info.experiment_id],
                               filter_string=f"tags.`sft.reproduces` = '{cfg.run_id}'",
                               order_by=["attributes.start_time DESC"], max_results=1)[0]
    report(original, rerun)


def report(original, rerun) -> None:
    """Print the comparison; exit 1 when any metric differs."""
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
    from sft.cli import run_app

    run_app(reproduce_task, config_name="reproduce", prog="sft-reproduce")


if __name__ == "__main__":
    main()
