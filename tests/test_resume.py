"""Interrupted runs: kill -9 then resume, SIGINT/SIGTERM, a loss that becomes NaN.

The interruptions come from tests.helpers callbacks added to the run's config, at an exact
training step, so each test knows what the checkpoint holds. The run and its resumption are
separate processes, as a user's are.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from conftest import mlflow_runs, run_sft, run_train_in_process, tiny_overrides

# 3 epochs of 8 batches (120 training rows, batch 16), every metric logged every step,
# last.ckpt every 3 steps.
STEPS_PER_EPOCH = 8
RUN = ["trainer.max_epochs=3", "trainer.log_every_n_steps=1",
       "callbacks.resume_checkpoint.every_n_train_steps=3"]


def overrides(tiny_model_dir, toy_data, out: Path, *extra: str) -> list[str]:
    return [o for o in tiny_overrides(tiny_model_dir, toy_data, out)
            if not o.startswith("paths.run_dir")] + RUN + list(extra)


def interrupt_at(step: int, signum: int, out: Path) -> list[str]:
    return ["+callbacks.stop._target_=tests.helpers.SignalAt", f"+callbacks.stop.step={step}",
            f"+callbacks.stop.signum={int(signum)}", f"+callbacks.stop.marker={out}/signalled"]


TIMINGS = ("time/", "perf/")  # the machine's durations and speeds


def histories(client, run) -> dict[str, list[tuple[int, float]]]:
    """Every metric's (step, value) history, in step order; the machine's timings left out."""
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            for key in run.data.metrics if not key.startswith(TIMINGS)}


def only_run(out: Path):
    client, runs = mlflow_runs(out, "text_csv")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return client, runs[0]


def checkpoint(run) -> dict:
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir, toy_data, tmp_path_factory):
    """The run the interrupted ones must end up equal to (a secret-looking tag included)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    done = run_sft("train", *overrides(tiny_model_dir, toy_data, out,
                                       "+logger.tags.api_token=hunter2"), cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    client, run = only_run(out)
    return {"out": out, "client": client, "run": run, "histories": histories(client, run)}


def assert_same_run(client, run, uninterrupted) -> None:
    """Every metric has exactly the uninterrupted run's history: no step missing, none logged
    twice (Lightning itself logs `epoch` twice at an epoch's last step: so must the resumed
    run), every value equal."""
    assert run.info.status == "FINISHED"
    got = histories(client, run)
    assert set(got) == set(uninterrupted["histories"])
    for key, expected in uninterrupted["histories"].items():
        assert got[key] == expected, key
    final = {k: v for k, v in run.data.metrics.items() if not k.startswith(TIMINGS)}
    assert final == {k: v for k, v in uninterrupted["run"].data.metrics.items()
                     if not k.startswith(TIMINGS)}


def test_kill_9_mid_epoch_then_resume_continues_the_run_and_matches(uninterrupted,
                                                                    tiny_model_dir, toy_data,
                                                                    tmp_path):
    killed = run_sft("train", *overrides(tiny_model_dir, toy_data, tmp_path,
                                         *interrupt_at(11, signal.SIGKILL, tmp_path)),
                     cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    client, run = only_run(tmp_path)
    assert run.info.status == "RUNNING"  # nothing could end it
    state = checkpoint(run)
    assert state["global_step"] == 9  # saved at 3, 6 and 9 (8 ends epoch 0: none there)
    (loader,) = state["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader["batches"] == 9 - STEPS_PER_EPOCH  # the resumed epoch skips this many
    logged = histories(client, run)["train/loss_step"]
    assert [step for step, _ in logged] == list(range(9))  # committed with the checkpoint

    resumed = run_sft("train", f"resume={run.info.run_id}", f"paths.outputs={tmp_path}",
                      cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(tmp_path)  # the same run, not a new one
    assert run.data.tags["sft.resumed_from"].endswith("last.ckpt")
    assert_same_run(client, run, uninterrupted)


def stopped_by(signum: int, step: int, tiny_model_dir, toy_data, tmp_path):
    """Train until `signum` arrives at the end of step `step`; check that the run stopped
    there with a checkpoint, one line naming it, and KILLED in MLflow; return the run."""
    stopped = run_sft("train", *overrides(tiny_model_dir, toy_data, tmp_path,
                                          *interrupt_at(step, signum, tmp_path)),
                      cwd=tmp_path)
    assert stopped.returncode == 128 + signum
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"sft-train: stopped by {signal.Signals(signum).name}; checkpoint: {path}; resume: "
        f"sft-train resume={run.info.run_id}")
    assert "Traceback" not in stopped.stderr
    assert checkpoint(run)["global_step"] == step  # the step the signal came in, finished
    return run


def test_sigterm_stops_at_the_step_with_a_checkpoint_marks_killed_and_resumes(
        uninterrupted, tiny_model_dir, toy_data, tmp_path):
    stopped_by(signal.SIGTERM, 5, tiny_model_dir, toy_data, tmp_path)

    resumed = run_sft("train", "resume=last", f"paths.outputs={tmp_path}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(tmp_path)
    assert_same_run(client, run, uninterrupted)


def test_sigint_stops_with_a_checkpoint_and_marks_the_run_killed(tiny_model_dir, toy_data,
                                                                 tmp_path):
    run = stopped_by(signal.SIGINT, 4, tiny_model_dir, toy_data, tmp_path)
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"

    # A checkpoint is read with weights_only=True: one that would run code is refused.
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": RunsCode(f"touch {marker}")}, path)
    code, stderr = run_train_in_process("resume=last", f"paths.outputs={tmp_path}")
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith(
        f"sft-train: error: resume: {path} is not a checkpoint that loads with "
        f"weights_only=True (Weights only load failed")
    assert not marker.exists()
    _, run = only_run(tmp_path)
    assert run.info.status == "FAILED"


class RunsCode:
    """Pickles into a call of os.system: what a malicious checkpoint would hold."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_a_nan_loss_stops_the_run_names_the_step_and_keeps_the_last_good_checkpoint(
        tiny_model_dir, toy_data, tmp_path):
    code, stderr = run_train_in_process(*overrides(
        tiny_model_dir, toy_data, tmp_path, "callbacks.resume_checkpoint.every_n_train_steps=2",
        "+callbacks.poison._target_=tests.helpers.PoisonAt", "+callbacks.poison.step=4"))
    assert code == 1
    _, run = only_run(tmp_path)
    assert run.info.status == "FAILED"
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"
    assert stderr.strip().splitlines()[-1] == (
        f"sft-train: error: train/loss became nan at step 4 (epoch 0, batch 4); the run stopped "
        f"and the last good checkpoint is kept: {path} (a lower optimizer.lr may help)")
    state = checkpoint(run)
    assert state["global_step"] == 2  # step 4's weights were NaN: not saved
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_secret_looking_values_never_reach_mlflow(uninterrupted, tmp_path):
    client, run = uninterrupted["client"], uninterrupted["run"]
    assert run.data.params["logger.tags.api_token"] == "***"
    assert run.data.tags["api_token"] == "***"
    assert "hunter2" not in run.data.tags["sft.overrides"]
    for name in ("config.yaml", "overrides.yaml"):
        text = Path(client.download_artifacts(run.info.run_id, name, tmp_path)).read_text()
        assert "api_token" in text and "hunter2" not in text
    # The run folder keeps the real value: a resumed run needs it.
    local = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "run_config.yaml"
    assert "hunter2" in local.read_text()


def test_resume_refuses_a_finished_run_and_other_overrides(uninterrupted):
    out, run = uninterrupted["out"], uninterrupted["run"]
    code, stderr = run_train_in_process(f"resume={run.info.run_id}", f"paths.outputs={out}")
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"sft-train: error: resume: run {run.info.run_id} ({run.info.run_name}) has finished; "
        f"nothing to resume")
    code, stderr = run_train_in_process("resume=last", "optimizer.lr=1", f"paths.outputs={out}")
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        "sft-train: error: resume: the run continues with its own config; drop "
        "'optimizer.lr=1' (only logger.tracking_uri, paths.outputs may be given)")
