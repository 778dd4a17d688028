"""What a run prints is worth reading: Lightning's and MLflow's noise is gone, what a user
acts on stays (sft.training.quiet, sft.inference.model_uri)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
from pytorch_lightning.callbacks import ModelCheckpoint

from conftest import mlflow_runs, run_sft, tiny_overrides, toy_frame
from sft.training.quiet import own_checkpoint_dirs, quiet_fit

# Each was printed by a default run before (issue 15); none says anything a user can act on.
NOISE = [
    "exists and is not empty",  # sft wrote run_config.yaml into checkpoints/ itself
    "litlogger",
    "litmodels",
    "💡 Tip",  # Lightning's advertisements
    "LeafSpec",  # torch's deprecation, raised inside Lightning
    "FutureWarning",
    "DeprecationWarning",
    "CloudPickle",
    "cloudpickle",  # MLflow's, when a model was logged as a pickle
    "Total Flops",
    "Total FLOPs",
    "FLOPs",  # always 0: Lightning cannot count them here
    "smaller than the logging interval",
]


@pytest.fixture(scope="module")
def console_run(tiny_model_dir, toy_data, tmp_path_factory):
    """`sft-train` as a separate process (one epoch of 8 batches, under the logging
    interval of 10), then `sft-predict` on the logged model by its runs:/ URI."""
    out = tmp_path_factory.mktemp("quiet")
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, out)
        if not o.startswith("trainer.enable_model_summary")
    ]
    train = run_sft("train", *overrides, "trainer.max_epochs=1", cwd=out)
    assert train.returncode == 0, train.stderr
    _, runs = mlflow_runs(out, "text_csv")
    predict = run_sft(
        "predict",
        f"model_uri=runs:/{runs[0].info.run_id}/model",
        f"input={toy_data['test']}",
        f"output={out}/predictions.csv",
        f"tracking_uri=sqlite:///{out}/mlflow.db",
        cwd=out,
    )
    return {"train": train, "predict": predict, "out": out}


def test_a_training_run_prints_none_of_the_noise(console_run):
    train = console_run["train"]
    printed = train.stdout + train.stderr
    found = [noise for noise in NOISE if noise in printed]
    assert not found, printed
    assert "Trainable params" in printed  # the model summary stays, without its FLOPs
    assert "Test metrics" in train.stdout and "MLflow run" in train.stdout


def test_sft_predict_prints_no_download_bars(console_run):
    predict = console_run["predict"]
    assert predict.returncode == 0, predict.stderr
    assert (console_run["out"] / "predictions.csv").is_file()
    assert "Downloading artifacts" not in predict.stderr, predict.stderr
    assert "Predicted 60 examples" in predict.stderr  # its own summary line stays


def _trainer(*folders):
    return SimpleNamespace(checkpoint_callbacks=[ModelCheckpoint(dirpath=str(f)) for f in folders])


def test_the_checkpoint_folder_warning_stays_for_a_folder_sft_did_not_fill(tmp_path):
    own, foreign = tmp_path / "own", tmp_path / "foreign"
    own.mkdir()
    foreign.mkdir()
    (own / "run_config.yaml").write_text("seed: 1\n")
    (own / "fingerprints.json").write_text("{}\n")
    (foreign / "best.ckpt").write_bytes(b"someone else's")
    trainer = _trainer(own, foreign)
    assert own_checkpoint_dirs(trainer, resumed=False) == [str(own)]
    assert own_checkpoint_dirs(trainer, resumed=True) == [str(own), str(foreign)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_fit(trainer, resumed=False):
            for folder in (own, foreign):
                warnings.warn(
                    f"Checkpoint directory {folder} exists and is not empty.",
                    UserWarning,
                    stacklevel=1,
                )
    assert [str(w.message) for w in caught] == [
        f"Checkpoint directory {foreign} exists and is not empty."
    ]


def test_quiet_fit_leaves_other_warnings_and_restores_the_filters(tmp_path):
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_fit(_trainer(tmp_path), resumed=False):
            warnings.warn(
                "The number of training batches (8) is smaller than the logging "
                "interval Trainer(log_every_n_steps=10).",
                UserWarning,
                stacklevel=1,
            )
            warnings.warn("the learning rate is NaN", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["the learning rate is NaN"]
    assert warnings.filters == before


def test_a_warning_of_sft_is_one_line_without_an_echo_of_its_source(
    tiny_model_dir, toy_data, tmp_path
):
    """A validation split without a class warns from sft's code: Python printed its path and
    echoed the source line (`  warnings.warn(`) on stderr; it is now one line."""
    frame = toy_frame(30, seed=7)
    frame[frame["label"] != "neutral"].to_csv(tmp_path / "val.csv", index=False)
    done = run_sft(
        "train",
        *tiny_overrides(tiny_model_dir, toy_data, tmp_path),
        f"data.val_path={tmp_path}/val.csv",
        "trainer.max_epochs=1",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "has no example of" in line]
    assert lines and all(
        line.startswith("UserWarning: the val split has no example of 1 of 3 classes")
        for line in lines
    ), done.stderr
    assert "warnings.warn(" not in done.stderr and "sft/model/module.py" not in done.stderr
