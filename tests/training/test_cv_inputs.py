"""Bad input to cross-validation is one line, exit 2, and no MLflow run left RUNNING."""

from __future__ import annotations

import re

from conftest import mlflow_runs, run_train_in_process, tiny_overrides, toy_frame


def cv_args(tiny_model_dir, toy_data, out, train) -> list[str]:
    """The tiny setup (Hydra's own run folder) on `train`, 2 folds of 1 epoch."""
    return [
        *(o for o in tiny_overrides(tiny_model_dir, toy_data, out) if "run_dir" not in o),
        f"data.train_path={train}",
        "trainer.max_epochs=1",
        "cv.folds=2",
    ]


def test_empty_cells_in_the_group_column_are_named_in_one_line(tiny_model_dir, toy_data, tmp_path):
    """pandas 3 keeps NaN through astype(str): scikit-learn's grouping failed with a traceback."""
    frame = toy_frame(40, seed=1).astype(object)
    frame["patient"] = [f"p{i % 7}" for i in range(len(frame))]
    for row in (3, 8, 20):  # data rows 4, 9, 21
        frame.loc[row, "patient"] = None
    frame.loc[11, "patient"] = "  "  # blank counts as empty too
    train = tmp_path / "train.csv"
    frame.to_csv(train, index=False)
    code, stderr = run_train_in_process(
        *cv_args(tiny_model_dir, toy_data, tmp_path, train), "cv.group_column=patient"
    )
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().splitlines()[-1] == (
        f"sft-train: error: cv.group_column=patient: empty in 4 rows of {train} (rows 4, 9, 12, "
        f"21); give every row a group (a value of its own where a row shares none) or drop "
        f"those rows"
    )
    if (tmp_path / "mlflow.db").exists():
        _, runs = mlflow_runs(tmp_path, "text_csv")
        assert "RUNNING" not in {r.info.status for r in runs}


def test_a_fold_whose_training_part_lacks_a_label_is_named_in_one_line(
    tiny_model_dir, toy_data, tmp_path
):
    """Every 'neutral' row in one group: the fold holding that group trained without a single
    'neutral' example, silently (a test label unseen in train is refused for files)."""
    frame = toy_frame(40, seed=1)
    frame["patient"] = [
        "n" if label == "neutral" else f"p{i % 7}" for i, label in enumerate(frame["label"])
    ]
    train = tmp_path / "train.csv"
    frame.to_csv(train, index=False)
    code, stderr = run_train_in_process(
        *cv_args(tiny_model_dir, toy_data, tmp_path, train),
        "cv.group_column=patient",
        "cv.stratified=false",
    )
    assert code == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.rstrip().splitlines()[-1]
    neutral = int((frame["label"] == "neutral").sum())
    assert re.fullmatch(
        r"sft-train: error: cv\.folds=2: fold [01] trains on the other folds, which hold no row "
        rf"of label 'neutral' \(all {neutral} are in fold [01]\): its model could never predict "
        r"it; use cv\.stratified=true, fewer folds, or groups that spread that label",
        last,
    ), last
    if (tmp_path / "mlflow.db").exists():
        _, runs = mlflow_runs(tmp_path, "text_csv")
        assert "RUNNING" not in {r.info.status for r in runs}
