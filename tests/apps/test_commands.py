"""Every app's documented commands, run as a user runs them: each `--help` lists that app's own
keys (and no other app's), and each app does one real job on the tiny model, starting with
the serve command that `sft-train` prints, run exactly as printed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT, mlflow_runs, run_sft, tiny_overrides
from helpers.servers import free_port, serve_and_ask

# Each app's keys, as its YAML declares them (README: "## `sft-train`", "Ship it", "Sweeps").
APP_KEYS = {
    "predict": [
        "model_uri",
        "input",
        "output",
        "text_column",
        "batch_size",
        "backend",
        "tracking_uri",
    ],
    "export": ["run_id", "model_uri", "format", "out", "tolerance", "parity_texts"],
    "serve": ["model_uri", "host", "port", "tracking_uri"],
    "explain": ["model_uri", "input", "target", "n_steps", "baseline", "out_dir", "log"],
    "leaderboard": ["tracking_uri", "experiment", "sweep", "metric"],
    "reproduce": ["run_id", "tracking_uri"],
}
TRAINING_GROUPS = ("optimizer:", "finetune:", "regularizer:", "scheduler:")


@pytest.mark.parametrize("app", sorted(APP_KEYS))
def test_each_apps_help_lists_its_own_keys_only(app, tmp_path):
    done = run_sft(app, "--help", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sft-{app}: ")
    for key in APP_KEYS[app]:
        assert f"\n{key}:" in done.stdout, key
    for group in TRAINING_GROUPS:  # sft-predict --help listed every training group
        assert group not in done.stdout
    assert f"sft-{app} " in done.stdout  # its examples


def test_train_help_still_lists_the_training_groups(tmp_path):
    done = run_sft("train", "--help", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "optimizer: adam, adamw, sgd" in done.stdout
    assert "predict" not in done.stdout.split("== Config ==")[0]  # no app config as a group


@pytest.fixture(scope="module")
def trained(tiny_model_dir, toy_data, tmp_path_factory):
    """`sft-train` on the tiny model, its printed summary, and where it put things."""
    out = tmp_path_factory.mktemp("commands")
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, out)
        if not o.startswith("paths.run_dir")
    ] + ["trainer.max_epochs=2"]
    done = run_sft("train", *overrides, cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    _, (run,) = mlflow_runs(out, "text_csv")
    return {
        "out": out,
        "stdout": done.stdout,
        "run": run,
        "tracking_uri": f"sqlite:///{out}/mlflow.db",
    }


def printed_serve_command(stdout: str) -> list[str]:
    (line,) = [x for x in stdout.splitlines() if x.strip().startswith("serve: ")]
    return shlex.split(line.strip()[len("serve: ") :])


def test_the_printed_serve_command_works_as_printed(trained, tmp_path):
    """No activated venv: PATH holds only the system's folders. The command runs from another
    folder; only the port is changed, to a free loopback one."""
    argv = printed_serve_command(trained["stdout"])
    assert "port=5000" in argv and f"model_uri={trained['run'].data.tags['sft.model_uri']}" in argv
    port = free_port()
    argv = [a if a != "port=5000" else f"port={port}" for a in argv]
    env = {
        **os.environ,
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }  # PYTHONPATH: this checkout's sft, as installed
    env.pop("VIRTUAL_ENV", None)
    answer = serve_and_ask(argv, port, ["great good excellent pill"], tmp_path, env)
    (prediction,) = answer["predictions"]
    assert prediction["label"] == "positive"
    assert set(prediction["probabilities"]) == {"negative", "neutral", "positive"}


def test_sft_serve_refuses_what_it_cannot_serve_in_one_line(trained, tmp_path):
    model_dir = Path(trained["run"].data.tags["sft.model_dir"])  # an sft folder, no MLmodel
    done = run_sft("serve", f"model_uri={model_dir}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"sft-serve: error: model_uri: {model_dir} holds no MLmodel file: not an MLflow model "
        f"(serve the run's runs:/<run id>/model; sft-predict reads sft model folders)"
    )
    done = run_sft("serve", "model_uri=models:/x/1", "port=0", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "config key 'port' must be > 0, got 0" in done.stderr


def test_documented_leaderboard_predict_and_export_commands(trained, toy_data, tmp_path):
    uri, run = trained["tracking_uri"], trained["run"]
    # README: sft-leaderboard experiment=<name> (it exited 2: `experiment` was the training group)
    done = run_sft(
        "leaderboard", "experiment=text_csv", f"tracking_uri={uri}", cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Experiment 'text_csv' (1 runs)" in done.stdout
    assert f"| {run.info.run_name} |" in done.stdout
    # README: sft-predict model_uri=models:/... input=... output=...
    preds = tmp_path / "preds.csv"
    done = run_sft(
        "predict",
        f"model_uri={run.data.tags['sft.model_uri']}",
        f"input={toy_data['test']}",
        f"output={preds}",
        f"tracking_uri={uri}",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "pred_label" in preds.read_text().splitlines()[0]
    # README: cat reviews.txt | sft-predict model_uri=<run folder>/model > preds.jsonl
    done = run_sft(
        "predict",
        f"model_uri={run.data.tags['sft.model_dir']}",
        "progress=false",
        cwd=tmp_path,
        timeout=300,
        stdin="great good pill\nawful bad week\n",
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["pred_label"] for x in done.stdout.splitlines()] == [
        "positive",
        "negative",
    ]
    # README: sft-export run_id=<id> format=folder out=...
    out = tmp_path / "exported"
    done = run_sft(
        "export",
        f"run_id={run.info.run_id}",
        "format=folder",
        f"out={out}",
        f"tracking_uri={uri}",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "sft_model.json").is_file()
    # its printed load command works as printed, with no venv on PATH (it said `python`)
    (load,) = [line for line in done.stdout.splitlines() if line.startswith("  load: ")]
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(
        load.removeprefix("  load: "), shell=True, capture_output=True, text=True, env=env
    )
    assert ran.returncode == 0, ran.stderr
    assert "'label':" in ran.stdout


def test_reading_a_registered_model_outside_the_training_folder_creates_no_store(tmp_path):
    """sft-predict models:/... run from another folder (no tracking_uri) made an empty
    outputs/mlflow.db there, then said the model was not found in it. It says where it
    looked, and leaves the folder as it was."""
    (tmp_path / "in.txt").write_text("great drug\n")
    done = run_sft("predict", "model_uri=models:/x/1", "input=in.txt", cwd=tmp_path, timeout=120)
    store = (tmp_path / "outputs" / "mlflow.db").resolve()
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"sft-predict: error: tracking_uri: no MLflow store at {store} (run the command where "
        f"you trained, or pass tracking_uri=sqlite:///<path to its mlflow.db>)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
