"""A run folder belongs to one run: a second run refuses it (one line, exit 2) instead of
writing through the first run's `model` link into its logged, registered model."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import mlflow_runs, run_train_in_process, tiny_overrides
from helpers.saved_models import build
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model
from sft.train import train_task


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (links followed), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_used_run_folder_is_refused_and_the_logged_model_stays(
    make_cfg, tiny_model_dir, toy_data, tmp_path
):
    train_task(make_cfg("trainer.max_epochs=1"))
    run_dir = tmp_path / "run"
    assert (run_dir / "model").is_symlink()  # one copy on disk: the logged model's
    logged = (run_dir / "model").resolve()
    before = digests(logged)
    base = [o for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path) if "run_dir" not in o] + [
        "trainer.max_epochs=1",
        "seed=7",
    ]
    expected = (
        f"sft-train: error: paths.run_dir: {run_dir} holds the outputs of another run "
        f"(config.yaml, model, checkpoints); give this run its own folder (hydra.run.dir=... or "
        f"paths.run_dir=...) or delete that one"
    )
    # a plain run, a CV parent, and a sweep's job in a fixed hydra.sweep.dir, each refused
    for extra in (
        [f"paths.run_dir={run_dir}"],
        [f"paths.run_dir={run_dir}", "cv.folds=2"],
        ["-m", f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=run", "optimizer.lr=1e-3"],
    ):
        flags = [a for a in extra if a.startswith("-")]  # before the overrides, as argparse wants
        code, stderr = run_train_in_process(*flags, *base, *[a for a in extra if a not in flags])
        assert code == 2, stderr
        assert "Traceback" not in stderr
        assert stderr.rstrip().splitlines()[-1] == expected, stderr
    assert digests(logged) == before  # the registered model is the first run's, unchanged
    _, runs = mlflow_runs(tmp_path, "text_csv")
    assert "RUNNING" not in {r.info.status for r in runs}
    assert sum(r.info.status == "FINISHED" for r in runs) == 1


def test_saving_a_model_over_a_link_replaces_the_link_and_leaves_its_target(
    tiny_model_dir, tmp_path
):
    """A resumed run that failed after its model was logged finds `model` a link into the
    artifact store: the new folder replaces the link; the logged copy keeps its files."""
    tokenizer = load_tokenizer(str(tiny_model_dir))
    logged = save_model(
        build(tiny_model_dir, "multiclass", seed=0), tokenizer, {}, 64, tmp_path / "logged"
    )
    before = digests(logged)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model").symlink_to(logged, target_is_directory=True)
    saved = save_model(
        build(tiny_model_dir, "multiclass", seed=1), tokenizer, {}, 64, tmp_path / "run" / "model"
    )
    assert not saved.is_symlink() and saved.is_dir()
    assert digests(logged) == before
    assert digests(saved) != before
