"""Data-parallel training: `trainer=ddp trainer.devices=2` on two CPU processes (gloo) gives
one run folder and one MLflow run, with metrics over every rank's examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import mlflow_runs, run_sft, tiny_overrides
from sft.data.batching import LengthGroupedBatchSampler
from sft.tasks.sequence import SEQUENCE


def shards(lengths, batch_size, shuffle, replicas, epoch=0):
    out = []
    for rank in range(replicas):
        sampler = LengthGroupedBatchSampler(
            lengths, batch_size, shuffle=shuffle, seed=3, num_replicas=replicas, rank=rank
        )
        sampler.set_epoch(epoch)
        out.append(list(sampler))
        assert len(out[-1]) == len(sampler)
    return out


@pytest.mark.parametrize("n,batch_size,replicas", [(61, 8, 2), (64, 8, 2), (10, 4, 3), (7, 64, 2)])
def test_evaluation_shards_hold_every_example_once_in_equal_batch_counts(n, batch_size, replicas):
    lengths = np.random.default_rng(0).integers(1, 30, n)
    per_rank = shards(lengths, batch_size, shuffle=False, replicas=replicas)
    assert len({len(batches) for batches in per_rank}) == 1  # no rank waits for another
    seen = sorted(i for batches in per_rank for batch in batches for i in batch)
    assert seen == list(range(n))  # none missing, none twice (it would count twice)
    assert all(0 < len(batch) <= batch_size for batches in per_rank for batch in batches)


def test_training_shards_are_disjoint_equal_and_change_each_epoch():
    lengths = np.random.default_rng(0).integers(1, 30, 100)
    first = shards(lengths, 8, shuffle=True, replicas=2, epoch=0)
    assert [len(b) for b in first] == [6, 6]  # 13 batches: the 13th is dropped this epoch
    ids = [i for batches in first for batch in batches for i in batch]
    assert len(ids) == len(set(ids))
    assert shards(lengths, 8, shuffle=True, replicas=2, epoch=1) != first
    # On one device nothing changes: every batch, every example.
    single = LengthGroupedBatchSampler(lengths, 8, shuffle=True, seed=3)
    assert len(list(single)) == 13 and sorted(i for b in single for i in b) == list(range(100))


def test_a_split_too_small_for_the_devices_is_one_line():
    from types import SimpleNamespace

    from sft.data.batching import TokenizedDataset
    from sft.data.module import TextDataModule
    from sft.errors import SFTDataError

    datamodule = TextDataModule("toy", "unused.csv", eval_batch_size=2)
    datamodule.datasets["val"] = TokenizedDataset([np.arange(3)] * 3, np.zeros(3, dtype=int))
    datamodule.trainer = SimpleNamespace(world_size=2, global_rank=0)
    assert len(datamodule.val_dataloader()) == 1  # 3 examples: a batch on each of 2 devices
    datamodule.trainer = SimpleNamespace(world_size=4, global_rank=0)
    with pytest.raises(
        SFTDataError,
        match=r"the val split has 3 examples: too few for 4 devices "
        "with data.eval_batch_size=2",
    ):
        datamodule.val_dataloader()


@pytest.fixture(scope="module")
def ddp_run(tiny_model_dir, toy_data, tmp_path_factory):
    """`sft-train trainer=ddp trainer.devices=2` on CPU, as a user runs it (Hydra run folder)."""
    out = tmp_path_factory.mktemp("ddp")
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, out)
        if not o.startswith("paths.run_dir")
    ]
    # fp32: the check below predicts in fp32; one epoch: an imperfect model, whose metrics on
    # half the test set differ from those on all of it.
    done = run_sft(
        "train",
        *overrides,
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "trainer.max_epochs=1",
        "optimizer.lr=2e-3",
        cwd=out,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out, done


def test_ddp_writes_one_run_folder_and_one_mlflow_run(ddp_run):
    out, done = ddp_run
    client, runs = mlflow_runs(out, "text_csv")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.strategy"] == "ddp"
    assert run.data.params["trainer.devices"] == "2"
    folders = [p for p in (out / "runs").glob("*/*") if p.is_dir()]
    assert len(folders) == 1, folders  # no folder per rank
    assert run.data.tags["sft.run_dir"] == str(folders[0].resolve())
    assert len(list(out.rglob(".hydra"))) == 1
    assert (folders[0] / "model").is_dir()
    # A finished run keeps its model, not its checkpoints (dropped once the run has ended).
    assert (folders[0] / "checkpoints").is_dir()
    assert not list((folders[0] / "checkpoints").glob("*.ckpt"))
    assert done.stdout.count("MLflow run ") == 1  # rank 1 printed no summary of its own
    versions = [
        v
        for m in client.search_registered_models()
        for v in client.search_model_versions(f"name='{m.name}'")
    ]
    assert [v.run_id for v in versions] == [run.info.run_id]  # one model, from rank zero


def test_ddp_test_metrics_equal_those_of_the_gathered_predictions(ddp_run, toy_data):
    from sklearn.metrics import accuracy_score, f1_score

    import sft

    out, _ = ddp_run
    _, runs = mlflow_runs(out, "text_csv")
    run = runs[0]
    run_dir = run.data.tags["sft.run_dir"]
    test = pd.read_csv(toy_data["test"])
    predictor = sft.load(f"{run_dir}/model")
    predicted = np.asarray(predictor.labels)[predictor.logits(list(test["text"])).argmax(1)]
    metrics = run.data.metrics
    assert metrics["test/acc"] == pytest.approx(accuracy_score(test["label"], predicted), abs=1e-6)
    assert metrics["test/f1_macro"] == pytest.approx(
        f1_score(test["label"], predicted, average="macro", labels=predictor.labels), abs=1e-6
    )
    per_class = f1_score(test["label"], predicted, average=None, labels=predictor.labels)
    for name, f1 in zip(predictor.labels, per_class):
        assert metrics[f"test/per_class/f1/{name}"] == pytest.approx(f1, abs=1e-6)
    # Not rank zero's share alone: its metrics differ (the check above has teeth).
    lengths = np.array([len(ids) for ids in predictor.encode(list(test["text"]))])
    mine = [
        i
        for batch in LengthGroupedBatchSampler(lengths, 64, shuffle=False, num_replicas=2, rank=0)
        for i in batch
    ]
    assert 0 < len(mine) < len(test)
    local = (
        accuracy_score(test["label"].iloc[mine], predicted[mine]),
        f1_score(
            test["label"].iloc[mine], predicted[mine], average="macro", labels=predictor.labels
        ),
    )
    assert local != pytest.approx((metrics["test/acc"], metrics["test/f1_macro"]), abs=1e-6)
    report = pd.read_csv(f"{run_dir}/per_class_report.csv")
    assert report.loc[report["label"] == "macro avg", "support"].item() == len(test)


def test_media_loaders_are_sharded_like_text(tiny_vit_dir, shapes_data):
    """Image and audio modules (one MediaDataModule) use the text module's loader: each rank
    its own share."""
    from types import SimpleNamespace

    from sft.data import ImageFolderDataModule
    from sft.data.media import load_processor
    from sft.errors import SFTDataError

    datamodule = ImageFolderDataModule(
        "image_folder",
        str(shapes_data["train"]),
        test_path=str(shapes_data["test"]),
        val_fraction=0.2,
        batch_size=8,
        eval_batch_size=64,
    )
    datamodule.load(SEQUENCE)
    datamodule.encode(load_processor(str(tiny_vit_dir), "image"), 0, None)
    train, test = [], []
    for rank in (0, 1):
        datamodule.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        loader = datamodule.train_dataloader()
        assert datamodule.datasets["train"].sampler is loader.batch_sampler  # seeds augmentation
        train.append([i for batch in loader.batch_sampler for i in batch])
        test.append([i for batch in datamodule.test_dataloader().batch_sampler for i in batch])
    assert len(train[0]) == len(train[1]) > 0 and not set(train[0]) & set(train[1])
    assert sorted(test[0] + test[1]) == list(range(len(datamodule.datasets["test"])))  # once
    datamodule.trainer = SimpleNamespace(world_size=64, global_rank=0)
    with pytest.raises(
        SFTDataError, match="the test split has 30 examples: too few for 64 devices"
    ):
        datamodule.test_dataloader()


def test_ddp_image_run_evaluates_every_test_image_once(tiny_vit_dir, shapes_data, tmp_path_factory):
    """`trainer=ddp trainer.devices=2` over an image folder: the test metrics count each of
    the test images once (unsharded, every rank would test all of them: twice the support)."""
    from conftest import media_overrides

    out = tmp_path_factory.mktemp("ddp-images")
    overrides = [
        o
        for o in media_overrides("vit", tiny_vit_dir, "image_folder", out)
        if not o.startswith("paths.run_dir")
    ]
    done = run_sft(
        "train",
        *overrides,
        f"data.train_path={shapes_data['train']}",
        f"data.test_path={shapes_data['test']}",
        "data.val_fraction=0.2",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "trainer.max_epochs=1",
        cwd=out,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    _, runs = mlflow_runs(out, "image_folder")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run_dir = runs[0].data.tags["sft.run_dir"]
    images = len(pd.read_csv(shapes_data["test"]))
    report = pd.read_csv(f"{run_dir}/per_class_report.csv")
    assert report.loc[report["label"] == "macro avg", "support"].item() == images == 30


def test_a_failing_child_rank_marks_the_run_failed(tmp_path):
    """Lightning kills rank zero when a child fails, so the child itself ends the run."""
    from sft.tracking.mlflow_tracker import MLflowTracker
    from sft.training.ddp_child import run_child

    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = tracker.open("toy", tags={})
    launch = {
        "config": str(tmp_path / "missing.yaml"),
        "run_id": run_id,
        "tracker": tracker.handle(),
        "resume_checkpoint": None,
    }
    with pytest.raises(FileNotFoundError):
        run_child(launch)
    assert tracker.client.get_run(run_id).info.status == "FAILED"


@pytest.mark.slow  # two jobs of two ranks each: about 45 s on 2 cores
def test_each_job_of_a_sweep_starts_its_own_ranks(tiny_model_dir, toy_data, tmp_path):
    """In one process (the basic launcher) job 2 must not wait for job 1's finished ranks."""
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
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "optimizer.lr=1e-3,3e-3",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stderr.count("GLOBAL_RANK: 1,") == 2  # a second rank for each job
    _, parent, children = parent_and_children(tmp_path)
    assert parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in children) == ["lr=0.001", "lr=0.003"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(p.name for p in (tmp_path / "multiruns").glob("*/*/*") if p.is_dir()) == [
        "0",
        "1",
    ]
