"""Interrupted runs: kill -9 then resume, SIGINT/SIGTERM, a loss that becomes NaN.

The interruptions come from tests.helpers.callbacks added to the run's config, at an exact
training step, so each test knows what the checkpoint holds. The run and its resumption are
separate processes, as a user's are.
"""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import pytest
import torch

from conftest import mlflow_runs, run_sft, run_train_in_process, tiny_overrides

# 3 epochs of 8 batches (120 training rows, batch 16), every metric logged every step,
# last.ckpt every 3 steps.
STEPS_PER_EPOCH = 8
RUN = [
    "trainer.max_epochs=3",
    "trainer.log_every_n_steps=1",
    "callbacks.resume_checkpoint.every_n_train_steps=3",
]


def overrides(tiny_model_dir, toy_data, out: Path, *extra: str) -> list[str]:
    return (
        [
            o
            for o in tiny_overrides(tiny_model_dir, toy_data, out)
            if not o.startswith("paths.run_dir")
        ]
        + RUN
        + list(extra)
    )


def interrupt_at(step: int, signum: int, out: Path) -> list[str]:
    return [
        "+callbacks.stop._target_=tests.helpers.callbacks.SignalAt",
        f"+callbacks.stop.step={step}",
        f"+callbacks.stop.signum={int(signum)}",
        f"+callbacks.stop.marker={out}/signalled",
    ]


TIMINGS = ("time/", "perf/")  # the machine's durations and speeds


def histories(client, run) -> dict[str, list[tuple[int, float]]]:
    """Every metric's (step, value) history, in step order; the machine's timings left out."""
    return {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in run.data.metrics
        if not key.startswith(TIMINGS)
    }


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
    done = run_sft(
        "train",
        *overrides(tiny_model_dir, toy_data, out, "+logger.tags.api_token=hunter2"),
        cwd=out,
    )
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
    assert final == {
        k: v for k, v in uninterrupted["run"].data.metrics.items() if not k.startswith(TIMINGS)
    }


def test_kill_9_mid_epoch_then_resume_continues_the_run_and_matches(
    uninterrupted, tiny_model_dir, toy_data, tmp_path
):
    killed = run_sft(
        "train",
        *overrides(tiny_model_dir, toy_data, tmp_path, *interrupt_at(11, signal.SIGKILL, tmp_path)),
        cwd=tmp_path,
    )
    assert killed.returncode == -signal.SIGKILL
    client, run = only_run(tmp_path)
    assert run.info.status == "RUNNING"  # nothing could end it
    state = checkpoint(run)
    assert state["global_step"] == 9  # saved at 3, 6 and 9 (8 ends epoch 0: none there)
    (loader,) = state["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader["batches"] == 9 - STEPS_PER_EPOCH  # the resumed epoch skips this many
    logged = histories(client, run)["train/loss_step"]
    assert [step for step, _ in logged] == list(range(9))  # committed with the checkpoint

    resumed = run_sft(
        "train", f"resume={run.info.run_id}", f"paths.outputs={tmp_path}", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(tmp_path)  # the same run, not a new one
    assert run.data.tags["sft.resumed_from"].endswith("last.ckpt")
    assert_same_run(client, run, uninterrupted)


def stopped_by(signum: int, step: int, tiny_model_dir, toy_data, tmp_path, store=None):
    """Train until `signum` arrives at the end of step `step`; check that the run stopped
    there with a checkpoint, one line naming it and how to resume it, and KILLED in MLflow;
    return (the run, the resume command as printed). `store`: a folder for the MLflow store
    other than the outputs folder (logger.tracking_uri)."""
    store = store or tmp_path
    uri = f"sqlite:///{store}/mlflow.db"
    extra = [f"logger.tracking_uri={uri}"] if store != tmp_path else []
    stopped = run_sft(
        "train",
        *overrides(
            tiny_model_dir, toy_data, tmp_path, *extra, *interrupt_at(step, signum, tmp_path)
        ),
        cwd=tmp_path,
    )
    assert stopped.returncode == 128 + signum
    _, run = only_run(store)
    assert run.info.status == "KILLED"
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"
    line = stopped.stderr.strip().splitlines()[-1]
    assert line == (
        f"sft-train: stopped by {signal.Signals(signum).name}; checkpoint: {path}; resume: "
        f"sft-train resume={run.info.run_id} logger.tracking_uri={uri} paths.outputs={tmp_path}"
    )
    assert "Traceback" not in stopped.stderr
    assert checkpoint(run)["global_step"] == step  # the step the signal came in, finished
    return run, shlex.split(line.split("; resume: ", 1)[1])


def test_sigterm_stops_at_the_step_with_a_checkpoint_marks_killed_and_resumes(
    uninterrupted, tiny_model_dir, toy_data, tmp_path
):
    """With a store elsewhere than the outputs (a non-default logger.tracking_uri), the
    printed resume command, run as printed from another folder, continues the same run and
    writes nothing into that folder."""
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _, command = stopped_by(signal.SIGTERM, 5, tiny_model_dir, toy_data, tmp_path, store=store)
    assert command[0] == "sft-train"
    resumed = run_sft("train", *command[1:], cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(store)
    assert_same_run(client, run, uninterrupted)
    assert list(elsewhere.iterdir()) == []  # no stray run folder, no store of its own
    # Stopped, it kept last.ckpt (stopped_by read it); finished, it keeps none.
    assert not list(Path(run.data.tags["sft.run_dir"]).rglob("*.ckpt"))


def test_sigint_stops_with_a_checkpoint_and_marks_the_run_killed(
    tiny_model_dir, toy_data, tmp_path
):
    run, _ = stopped_by(signal.SIGINT, 4, tiny_model_dir, toy_data, tmp_path)
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"

    # A checkpoint is read with weights_only=True: one that would run code is refused.
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": RunsCode(f"touch {marker}")}, path)
    code, stderr = run_train_in_process("resume=last", f"paths.outputs={tmp_path}")
    assert code == 2
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"sft-train: error: resume: {path} is not a checkpoint that loads with "
            f"weights_only=True (Weights only load failed"
        )
    )
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
    tiny_model_dir, toy_data, tmp_path
):
    code, stderr = run_train_in_process(
        *overrides(
            tiny_model_dir,
            toy_data,
            tmp_path,
            "callbacks.resume_checkpoint.every_n_train_steps=2",
            "+callbacks.poison._target_=tests.helpers.callbacks.PoisonAt",
            "+callbacks.poison.step=4",
        )
    )
    assert code == 1
    _, run = only_run(tmp_path)
    assert run.info.status == "FAILED"
    path = Path(run.data.tags["sft.run_dir"]) / "checkpoints" / "last.ckpt"
    assert stderr.strip().splitlines()[-1] == (
        f"sft-train: error: train/loss became nan at step 4 (epoch 0, batch 4); the run stopped "
        f"and the last good checkpoint is kept: {path} (a lower optimizer.lr may help)"
    )
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
        f"nothing to resume"
    )
    code, stderr = run_train_in_process("resume=last", "optimizer.lr=1", f"paths.outputs={out}")
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        "sft-train: error: resume: the run continues with its own config; drop "
        "'optimizer.lr=1' (only logger.tracking_uri, paths.outputs may be given)"
    )


# -- resume refuses a run whose inputs changed -----------------------------------------------


@pytest.fixture(scope="module")
def stopped_on_copies(tiny_model_dir, toy_data, tmp_path_factory):
    """A run stopped by SIGTERM at step 5, trained on copies of the toy data and the tiny
    model that the tests below change (and put back)."""
    import shutil

    out = tmp_path_factory.mktemp("stopped-on-copies")
    inputs = tmp_path_factory.mktemp("inputs")
    data = {split: Path(shutil.copy(path, inputs / path.name)) for split, path in toy_data.items()}
    model = Path(shutil.copytree(tiny_model_dir, inputs / "model"))
    run, _ = stopped_by(signal.SIGTERM, 5, model, data, out)
    folder = Path(run.data.tags["sft.run_dir"])
    return {
        "out": out,
        "data": data,
        "model": model,
        "run_id": run.info.run_id,
        "folder": folder,
        "fingerprints": folder / "checkpoints" / "fingerprints.json",
    }


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] + "…"


def add_a_label(s) -> str:
    """The reported case: a fourth label (the head would need 4 outputs; the checkpoint has 3)."""
    train = s["data"]["train"]
    old = sha(train)
    with train.open("a") as handle:
        handle.write("good bad okay surprise,surprised\n" * 5)
    return (
        f"the train data (sha256 {old} -> {sha(train)}) and the labels (added surprised) "
        f"changed since run {s['run_id']} started; start a new run"
    )


def edit_a_row(s) -> str:
    """Same labels, same shapes: nothing would crash, the continued run would train on other
    data than its first steps did."""
    train = s["data"]["train"]
    old = sha(train)
    lines = train.read_text().splitlines(keepends=True)
    lines[3] = "terrible awful day," + lines[3].rsplit(",", 1)[1]
    train.write_text("".join(lines))
    return (
        f"the train data (sha256 {old} -> {sha(train)}) changed since run {s['run_id']} "
        f"started; start a new run"
    )


def rename_a_label(s) -> str:
    """neutral -> calm: still 3 labels, but calm sorts first, so the ids of two classes move."""
    olds = {split: sha(path) for split, path in s["data"].items()}
    for path in s["data"].values():
        path.write_text(path.read_text().replace(",neutral\n", ",calm\n"))
    return (
        f"the train data (sha256 {olds['train']} -> {sha(s['data']['train'])}), the test "
        f"data (sha256 {olds['test']} -> {sha(s['data']['test'])}) and the labels (added "
        f"calm; removed neutral) changed since run {s['run_id']} started; start a new run"
    )


def change_the_model_folder(s):
    """A changed config.json (dropout): the weights load as before, the run trains otherwise."""
    import json
    import re

    config = s["model"] / "config.json"
    values = json.loads(config.read_text())
    values["hidden_dropout_prob"] = 0.3
    config.write_text(json.dumps(values))
    return re.compile(
        re.escape(f"the model {s['model']} (sha256 ") + r"[0-9a-f]{12}… -> "
        r"[0-9a-f]{12}…\) " + re.escape(f"changed since run {s['run_id']} started; start a new run")
    )


def edit_a_row_of_a_run_without_fingerprints(s) -> str:
    """A run started before fingerprints.json existed: its tags sft.data.*_sha256 are compared."""
    s["fingerprints"].unlink()
    return edit_a_row(s)


CHANGES = [
    add_a_label,
    edit_a_row,
    rename_a_label,
    change_the_model_folder,
    edit_a_row_of_a_run_without_fingerprints,
]


def recorded_state(s) -> dict:
    """Everything the refused resume must leave as it was: the run in MLflow (status, end,
    tags, params, metrics) and every file of the run folder."""
    from mlflow import MlflowClient

    run = MlflowClient(f"sqlite:///{s['out']}/mlflow.db").get_run(s["run_id"])
    files = {
        str(p.relative_to(s["folder"])): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(s["folder"].rglob("*"))
        if p.is_file()
    }
    return {
        "status": run.info.status,
        "end_time": run.info.end_time,
        "tags": run.data.tags,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "files": files,
    }


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_resume_refuses_changed_inputs_in_one_line_and_leaves_the_run_as_it_was(
    stopped_on_copies, change
):
    s = stopped_on_copies
    originals = {
        p: p.read_bytes() for p in [*s["data"].values(), *s["model"].iterdir(), s["fingerprints"]]
    }
    try:
        expected = change(s)
        before = recorded_state(s)
        code, stderr = run_train_in_process(f"resume={s['run_id']}", f"paths.outputs={s['out']}")
        after = recorded_state(s)
    finally:
        for path, content in originals.items():  # only what changed: mtimes are compared
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and stderr.rstrip().splitlines()[-1] == errors[0], stderr
    assert errors[0].startswith("sft-train: error: resume: ")
    message = errors[0][len("sft-train: error: resume: ") :]
    if isinstance(expected, str):
        assert message == expected
    else:
        assert expected.fullmatch(message), message
    assert after["status"] == "KILLED"
    assert after == before  # nothing recorded, overwritten or written


def test_the_refused_run_resumes_once_its_inputs_are_back_and_matches(
    uninterrupted, stopped_on_copies
):
    s = stopped_on_copies
    resumed = run_sft("train", f"resume={s['run_id']}", f"paths.outputs={s['out']}", cwd=s["out"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, runs = mlflow_runs(s["out"], "text_csv")
    assert [r.info.run_id for r in runs] == [s["run_id"]]
    assert_same_run(client, runs[0], uninterrupted)


def test_a_tracker_finds_the_run_to_resume_and_reaches_it_from_its_handle(tmp_path):
    """What resume and a failing DDP child ask of the Tracker protocol, on the MLflow tracker:
    a run by id, `last` (never a sweep's parent), none for an unknown id; a tracker rebuilt
    from `handle()` attaches to a run and ends it. The null tracker has no runs at all."""
    from sft.config.instantiate import instantiate
    from sft.tracking.mlflow_tracker import MLflowTracker
    from sft.tracking.null import NullTracker

    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = tracker.open("toy", tags={"sft.run_dir": str(tmp_path)}, name="the-run")
    tracker.log_params({"optimizer": "adamw"})
    sweep = MLflowTracker(tracker.tracking_uri)
    sweep.open("toy", tags={"sft.run_dir": str(tmp_path), "sft.sweep": "true"})
    found = tracker.find_run(run_id)
    assert (found.run_id, found.name, found.status) == (run_id, "the-run", "RUNNING")
    assert found.params == {"optimizer": "adamw"} and found.tags["sft.run_dir"] == str(tmp_path)
    assert tracker.find_run("last").run_id == run_id  # the newer run is a sweep's parent
    assert tracker.find_run("0123abcd") is None
    assert tracker.run_of_model(f"runs:/{run_id}/model") == run_id
    assert tracker.run_of_model(str(tmp_path)) is None
    instantiate(tracker.handle()).attach(run_id).close("FAILED")
    assert tracker.find_run(run_id).status == "FAILED"
    null = NullTracker()
    assert null.handle() is None and null.find_run("last") is None and not null.records
