"""Cluster sweeps through Hydra's submitit launcher: `hydra/launcher=submitit_local` runs the
path a SLURM sweep takes (pickled jobs, one process each), and `submitit_slurm` turns the
launcher's keys into the sbatch script's resources."""

from __future__ import annotations

import pytest

from conftest import run_sft, tiny_overrides

pytest.importorskip(
    "hydra_plugins.hydra_submitit_launcher", reason="the cluster extra: pip install -e '.[cluster]'"
)


def test_submitit_local_sweep_records_its_child_runs(tiny_model_dir, toy_data, tmp_path):
    from helpers.sweeps import parent_and_children

    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith("paths.run_dir")
    ]
    done = run_sft(
        "train",
        "-m",
        *overrides,
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "trainer.max_epochs=1",
        "optimizer.lr=1e-3,3e-3",
        cwd=tmp_path,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    client, parent, children = parent_and_children(tmp_path)
    assert parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in children) == ["lr=0.001", "lr=0.003"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.tags["sft.sweep_job"] for c in children) == ["0", "1"]
    # The jobs ran as submitit jobs (their own processes), each in its own job folder.
    sweep_dir = parent.data.tags["sft.sweep_dir"]
    assert {c.data.tags["sft.run_dir"] for c in children} == {f"{sweep_dir}/0", f"{sweep_dir}/1"}
    logs = list((tmp_path / "multiruns").rglob(".submitit/*/*_log.out"))
    assert len(logs) == 2, logs
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "leaderboard.csv" in artifacts


def test_submitit_slurm_keys_become_the_sbatch_resources(tmp_path, monkeypatch):
    """partition, time, GPUs and CPUs set as config keys reach the script sent to sbatch."""
    import os

    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from sft.cli import CONF_DIR

    # No cluster here: submitit only checks that `srun` exists before it writes the script.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                "hydra/launcher=submitit_slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.timeout_min=120",
                "hydra.launcher.gpus_per_node=2",
                "hydra.launcher.cpus_per_task=8",
                f"paths.outputs={tmp_path}",
            ],
        )

    # Hydra's own SlurmLauncher builds the submitit executor; it stops where it would submit.
    class Submitted(Exception):
        pass

    def submit(executor, *args, **kwargs):
        raise Submitted(executor)

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", submit)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    with pytest.raises(Submitted) as submitted:
        launcher.launch([["optimizer.lr=1e-3"]], initial_job_idx=0)
    executor = submitted.value.args[0]
    script = executor._executor._make_submission_file_text("python -m sft.train", "uid")
    assert "#SBATCH --partition=gpu" in script
    assert "#SBATCH --time=120" in script
    assert "#SBATCH --gpus-per-node=2" in script
    assert "#SBATCH --cpus-per-task=8" in script
