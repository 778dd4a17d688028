"""Bad input gets one line naming the key, file, row or column; exit 2; no run left RUNNING."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import mlflow_runs, run_sft, tiny_overrides, toy_frame
from sft.errors import SFTConfigError, SFTDataError
from sft.train import train_task


def write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# (id, overrides built from tmp_path, error type, message pattern)
CONFIG_CASES = [
    ("non-positive lr", ["optimizer.lr=0"], SFTConfigError, r"optimizer\.lr' must be > 0"),
    ("negative lr", ["optimizer.lr=-1e-3"], SFTConfigError, r"optimizer\.lr' must be > 0"),
    ("lr not a number", ["optimizer.lr=fast"], SFTConfigError,
     r"config key 'optimizer\.lr': Value 'fast' .* could not be converted to Float"),
    ("zero batch size", ["data.batch_size=0"], SFTConfigError, r"data\.batch_size' must be > 0"),
    ("fractional batch size", ["data.batch_size=1.5"], SFTConfigError,
     r"config key 'data\.batch_size'"),
    ("zero epochs", ["trainer.max_epochs=0"], SFTConfigError, r"trainer\.max_epochs' must be > 0"),
    ("unknown pooling", ["model.pooling=median"], SFTConfigError,
     r"config key 'model\.pooling': Invalid value 'median'"),
    ("mse on a multiclass task", ["loss=mse", "data.task=multiclass"], SFTConfigError,
     r"loss=mse does not fit task 'multiclass'"),
    ("cross-entropy on regression", ["data.task=regression"], SFTConfigError,
     r"loss=cross_entropy does not fit task 'regression'"),
    ("bad class weights", ["loss.class_weights=heavy"], SFTConfigError,
     r"loss\.class_weights'.*'balanced'"),
    ("key added by a file", ["+optimizer.lrr=1"], SFTConfigError,
     r"unknown config key 'optimizer\.lrr'"),
    ("unknown trainer argument", ["+trainer.max_epoch=3"], SFTConfigError,
     r"unknown config key 'trainer\.max_epoch'"),
    ("val fraction of 1", ["data.val_fraction=1.0"], SFTConfigError,
     r"data\.val_fraction' must be < 1.0"),
    ("max_length above the model's limit", ["model.max_length=512"], SFTConfigError,
     r"model\.max_length=512 exceeds the model's limit of 64"),
    ("class weights of the wrong length", ["loss.class_weights=[1.0,2.0]"], SFTConfigError,
     r"loss\.class_weights has 2 values but the data has 3 labels"),
    ("huber on a multiclass task", ["loss=huber", "data.task=multiclass"], SFTConfigError,
     r"loss=huber does not fit task 'multiclass' \(it trains: regression\)"),
    ("bce on a multiclass task", ["loss=bce", "data.task=multiclass"], SFTConfigError,
     r"loss=bce does not fit task 'multiclass' \(it trains: binary, multilabel\)"),
    ("class weights on multilabel", ["loss=focal", "loss.class_weights=balanced",
                                     "data.task=multilabel"], SFTConfigError,
     r"loss\.class_weights does not apply to task 'multilabel'"),
    ("bad pos_weight", ["loss=bce", "loss.pos_weight=heavy"], SFTConfigError,
     r"loss\.pos_weight'.*a non-negative number or a list"),
    ("standardize a classification target", ["data.standardize=true", "data.task=multiclass"],
     SFTConfigError, r"data\.standardize=true applies to regression targets; the task is "
                     r"'multiclass'"),
    ("standardize once the data says multiclass", ["data.standardize=true"], SFTConfigError,
     r"data\.standardize=true applies to regression targets; the task is 'multiclass'"),
    ("monitored metric the task does not log", ["monitor.metric=val/mse", "data.task=multiclass"],
     SFTConfigError, r"monitor\.metric=val/mse is not logged for task 'multiclass' \(choose "
                     r"from: train/loss, val/loss, val/acc"),
    ("monitored per-label F1 of an unknown label", ["monitor.metric=val/f1_furious"],
     SFTConfigError, r"monitor\.metric=val/f1_furious is not logged for task 'multiclass'"),
    ("threshold of 1", ["data.threshold=1.0"], SFTConfigError,
     r"data\.threshold' must be < 1.0"),
    ("LLRD decay above 1", ["finetune=llrd", "finetune.decay=1.5"], SFTConfigError,
     r"finetune\.decay' must be <= 1.0, got 1.5"),
    ("unfreezing every 0 epochs", ["finetune=gradual_unfreeze", "finetune.every_n_epochs=0"],
     SFTConfigError, r"finetune\.every_n_epochs' must be > 0"),
    ("freezing more layers than the model has", ["finetune=freeze_bottom", "finetune.k=3"],
     SFTConfigError, r"finetune\.k=3: the model has 2 layers"),
    ("LoRA on modules the model lacks", ["finetune=lora", "finetune.target_modules=[nope]"],
     SFTConfigError, r"finetune\.target_modules=\['nope'\]: cannot place LoRA adapters in this "
                     r"bert model \(Target modules \{'nope'\} not found"),
    ("negative L2-SP alpha", ["regularizer=l2sp", "regularizer.alpha=-1"], SFTConfigError,
     r"regularizer\.alpha' must be >= 0.0"),
]


@pytest.mark.parametrize("overrides,error,pattern",
                         [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_refused_with_one_line(make_cfg, overrides, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        train_task(make_cfg(*overrides))
    assert "\n" not in str(info.value)


def _data_cases(tmp: Path):
    good = toy_frame(30, seed=5)
    good.to_csv(tmp / "good.csv", index=False)
    empty_text = good.copy()
    empty_text.loc[6, "text"] = "   "
    empty_text.to_csv(tmp / "empty_text.csv", index=False)
    missing_label = good.copy().astype(object)
    missing_label.loc[3, "label"] = None
    missing_label.to_csv(tmp / "missing_label.csv", index=False)
    unseen = toy_frame(9, seed=6)
    unseen.loc[4, "label"] = "furious"
    unseen.to_csv(tmp / "unseen.csv", index=False)
    cased = good.copy()
    cased.loc[0, "label"] = "Positive"
    cased.to_csv(tmp / "cased.csv", index=False)
    single = good.copy()
    single["label"] = "positive"
    single.to_csv(tmp / "single.csv", index=False)
    good.head(0).to_csv(tmp / "header_only.csv", index=False)
    write(tmp / "empty.csv", "")
    write(tmp / "latin1.csv", "text,label\ngood day,positive\ncaf\xe9 bad,negative\n".encode("latin-1"))
    write(tmp / "broken.jsonl", '{"text": "good", "label": "positive"}\n{"text": "bad", "label"\n')
    write(tmp / "ragged.csv", "text,label\ngood,positive\nbad,negative,extra\n")
    write(tmp / "notes.xlsx", "not a table")
    return [
        ("missing train file", [f"data.train_path={tmp}/nope.csv"],
         r"data\.train_path: file not found: .*nope\.csv"),
        ("missing test file", [f"data.test_path={tmp}/gone.csv"],
         r"data\.test_path: file not found: .*gone\.csv"),
        ("missing text column", [f"data.train_path={tmp}/good.csv", "data.text_column=review"],
         r"data\.text_column: no column 'review' in .*good\.csv \(columns: text, label\)"),
        ("missing label column", [f"data.train_path={tmp}/good.csv", "data.label_column=rating"],
         r"data\.label_column: no column 'rating' in .*good\.csv"),
        ("empty file", [f"data.train_path={tmp}/empty.csv"], r"empty\.csv is empty"),
        ("header without rows", [f"data.train_path={tmp}/header_only.csv"],
         r"header_only\.csv has a header but no rows"),
        ("empty text", [f"data.train_path={tmp}/empty_text.csv"],
         r"empty_text\.csv row 7: empty text in column 'text'"),
        ("missing label", [f"data.train_path={tmp}/missing_label.csv"],
         r"missing_label\.csv row 4: missing label in column 'label'"),
        ("test label unseen in train", [f"data.train_path={tmp}/good.csv",
                                        f"data.test_path={tmp}/unseen.csv"],
         r"unseen\.csv row 5: label 'furious' in column 'label' does not occur in the train"),
        ("labels differing in case", [f"data.train_path={tmp}/cased.csv"],
         r"labels 'Positive' and 'positive' .* differ only in case"),
        ("a single label", [f"data.train_path={tmp}/single.csv"],
         r"single\.csv: column 'label' holds a single label"),
        ("not UTF-8", [f"data.train_path={tmp}/latin1.csv"],
         r"latin1\.csv line 3: not valid UTF-8"),
        ("malformed JSONL", [f"data.train_path={tmp}/broken.jsonl"],
         r"broken\.jsonl line 2: invalid JSON"),
        ("ragged CSV", [f"data.train_path={tmp}/ragged.csv"],
         r"ragged\.csv: Expected 2 fields in line 3, saw 3"),
        ("unknown file type", [f"data.train_path={tmp}/notes.xlsx"],
         r"unknown file type '\.xlsx'"),
        ("non-numeric regression target", [f"data.train_path={tmp}/good.csv", "loss=mse"],
         r"good\.csv row 1: regression target '\w+' in column 'label' is not a finite number"),
        ("empty split after carving", [f"data.train_path={tmp}/good.csv", "data.val_fraction=0.01"],
         r"data\.val_fraction=0.01: cannot split 30 rows"),
    ]


def test_bad_data_is_refused_with_one_line_and_a_failed_run(make_cfg, tmp_path):
    """Every bad file gives its own message; each attempt leaves one FAILED MLflow run."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    cases = _data_cases(data_dir)
    for name, overrides, pattern in cases:
        with pytest.raises(SFTDataError, match=pattern) as info:
            train_task(make_cfg(*overrides))
        assert "\n" not in str(info.value), name
    _, runs = mlflow_runs(tmp_path, "text_csv")
    assert len(runs) == len(cases)
    assert {r.info.status for r in runs} == {"FAILED"}


def test_model_folder_without_weights(make_cfg, tiny_model_dir, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(SFTConfigError, match=r"model\.name_or_path: cannot load a model from"):
        train_task(make_cfg(f"model.name_or_path={folder}"))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_sft("train", *args, cwd=cwd, timeout=300)


CLI_CASES = [
    ("unknown group choice", ["optimizer=adamax"],
     "sft-train: error: unknown choice 'adamax' for config group 'optimizer' "
     "(choices: adam, adamw, sgd)"),
    ("misspelled key", ["optimizer.lrr=1e-4"],
     "sft-train: error: unknown config key 'optimizer.lrr'; to add a new key use "
     "'+optimizer.lrr=...'"),
    ("non-positive lr", ["optimizer.lr=-1"],
     "sft-train: error: config key 'optimizer.lr' must be > 0.0, got -1"),
    ("mse on multiclass drug reviews", ["loss=mse"],
     "sft-train: error: loss=mse does not fit task 'multiclass' (it trains: regression); "
     "choose another loss or data.task"),
    ("unparsable override", ["optimizer.lr=[1,"], "sft-train: error: cannot parse override"),
]


@pytest.mark.parametrize("args,expected", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_prints_one_line_and_exits_2(tmp_path, args, expected):
    done = run_cli(*args, f"paths.outputs={tmp_path}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(expected)
    assert "Traceback" not in done.stderr


def test_cli_data_error_exits_2_and_marks_the_run_failed(tiny_model_dir, toy_data, tmp_path):
    overrides = tiny_overrides(tiny_model_dir, toy_data, tmp_path)
    overrides = [o for o in overrides if not o.startswith("paths.run_dir")]
    done = run_cli(*overrides, f"data.train_path={tmp_path}/missing.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"sft-train: error: data.train_path: file not found: {tmp_path}/missing.csv")
    assert "Traceback" not in done.stderr
    _, runs = mlflow_runs(tmp_path, "text_csv")
    assert [r.info.status for r in runs] == ["FAILED"]
