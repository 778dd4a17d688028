"""Sweeps in MLflow: one parent, a child per job with its params, a leaderboard, shared caches."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import mlflow_runs, run_sft, start_sft, tiny_overrides
from helpers.names import auto_model_name
from helpers.sweeps import parent_and_children


def sweep_overrides(tiny_model_dir, toy_data, out):
    """The tiny setup, minus the fixed run folder: every job of a sweep gets its own."""
    return [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, out)
        if not o.startswith("paths.run_dir")
    ] + ["trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def grid_sweep(tiny_model_dir, toy_data, tmp_path_factory):
    """A 2x2 grid sweep run as a user runs it: sft-train -m ... (basic launcher, one process)."""
    out = tmp_path_factory.mktemp("sweep")
    done = run_sft(
        "train",
        "-m",
        *sweep_overrides(tiny_model_dir, toy_data, out),
        "optimizer.lr=1e-3,3e-3",
        "data.batch_size=8,16",
        cwd=out,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_grid_sweep_is_one_parent_with_four_children(grid_sweep):
    out, _ = grid_sweep
    _client, parent, children = parent_and_children(out)
    assert len(children) == 4
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name.startswith("sweep-")
    assert parent.data.params["optimizer.lr"] == "1e-3,3e-3"
    assert parent.data.params["data.batch_size"] == "8,16"
    assert parent.data.tags["sft.swept_keys"] == "optimizer.lr,data.batch_size"
    got = {(c.data.params["optimizer.lr"], c.data.params["data.batch_size"]) for c in children}
    assert got == {("0.001", "8"), ("0.001", "16"), ("0.003", "8"), ("0.003", "16")}
    for child in children:
        assert child.info.status == "FINISHED"
        lr, bs = child.data.params["optimizer.lr"], child.data.params["data.batch_size"]
        assert child.info.run_name == f"lr={lr},bs={bs}"


def test_parent_holds_best_child_leaderboard_and_plot(grid_sweep, toy_data, tmp_path):
    out, _ = grid_sweep
    client, parent, children = parent_and_children(out)
    best = max(children, key=lambda c: c.data.metrics["best/val/f1_macro"])
    assert parent.data.tags["sft.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best/val/f1_macro"] == best.data.metrics["best/val/f1_macro"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"leaderboard.csv", "leaderboard.md", "sweep_plot.png"} <= artifacts
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "leaderboard.csv", tmp_path))
    assert sorted(table["run_id"]) == sorted(c.info.run_id for c in children)
    assert {
        "optimizer.lr",
        "data.batch_size",
        "val/f1_macro",
        "test/f1_macro",
        "params/trainable",
        "time/total_s",
    } <= set(table)
    assert table["best/val/f1_macro"].is_monotonic_decreasing
    assert table["run_id"][0] == best.info.run_id
    # One registered version, the best job's (logger.register=auto), tagged with its run.
    name = auto_model_name("text_csv", toy_data["train"], "multiclass")
    versions = client.search_model_versions(f"name='{name}'")
    assert [(v.run_id, v.tags["run_id"]) for v in versions] == [(best.info.run_id,) * 2]
    assert [m.name for m in client.search_registered_models()] == [name]
    assert parent.data.tags["sft.model_uri"] == f"models:/{name}/1"


def test_jobs_in_one_process_share_data_tokens_and_weights(grid_sweep):
    out, _ = grid_sweep
    _, _, children = parent_and_children(out)
    first, *rest = sorted(children, key=lambda c: int(c.data.tags["sft.sweep_job"]))
    assert first.data.tags["sft.cache.weights.miss"] == "1"
    assert first.data.tags["sft.cache.table.miss"] == "2"  # train and test files
    for child in rest:
        tags = child.data.tags
        assert "sft.cache.weights.miss" not in tags and tags["sft.cache.weights.hit"] == "1"
        assert "sft.cache.table.miss" not in tags and tags["sft.cache.table.hit"] == "2"
        assert "sft.cache.tokens.miss" not in tags and tags["sft.cache.tokens.hit"] == "3"
        assert "sft.cache.tokenizer.miss" not in tags


def test_leaderboard_command_prints_every_child(grid_sweep):
    out, _ = grid_sweep
    _, parent, children = parent_and_children(out)
    done = run_sft("leaderboard", f"tracking_uri=sqlite:///{out}/mlflow.db", cwd=out, timeout=120)
    assert done.returncode == 0, done.stderr
    assert parent.info.run_id in done.stdout
    for child in children:
        assert f"| {child.info.run_name} |" in done.stdout
    by_name = run_sft(
        "leaderboard",
        f"tracking_uri=sqlite:///{out}/mlflow.db",
        f"sweep={parent.info.run_name}",
        cwd=out,
        timeout=120,
    )
    assert by_name.stdout == done.stdout


def test_joblib_sweep_with_two_parallel_jobs_records_every_run(tiny_model_dir, toy_data, tmp_path):
    done = run_sft(
        "train",
        "-m",
        *sweep_overrides(tiny_model_dir, toy_data, tmp_path),
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optimizer.lr=1e-3,2e-3,3e-3,4e-3",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, _parent, children = parent_and_children(tmp_path)
    assert sorted(c.data.params["optimizer.lr"] for c in children) == [
        "0.001",
        "0.002",
        "0.003",
        "0.004",
    ]
    for child in children:
        assert child.info.status == "FINISHED"
        history = client.get_metric_history(child.info.run_id, "val/f1_macro")
        assert len(history) == 2  # no metric lost: one per epoch
        assert "test/f1_macro" in child.data.metrics


def test_four_processes_writing_one_sqlite_store_lose_nothing(tiny_model_dir, toy_data, tmp_path):
    """Four sft-train processes at once into one mlflow.db: every run, param, metric step and
    registered model version arrives."""
    jobs = [
        start_sft(
            "train",
            *sweep_overrides(tiny_model_dir, toy_data, tmp_path),
            f"optimizer.lr={lr}",
            "trainer.log_every_n_steps=1",
            cwd=tmp_path,
        )
        for lr in ("1e-3", "2e-3", "3e-3", "4e-3")
    ]
    for job in jobs:
        _, stderr = job.communicate(timeout=900)
        assert job.returncode == 0, stderr[-3000:]
    client, runs = mlflow_runs(tmp_path, "text_csv")
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == [
        "0.001",
        "0.002",
        "0.003",
        "0.004",
    ]
    assert len({len(r.data.params) for r in runs}) == 1  # every param of every run
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss_step")]
        assert sorted(steps) == list(range(16))  # 2 epochs of 8 steps, each once
        assert len(client.get_metric_history(run.info.run_id, "val/f1_macro")) == 2
        assert "test/f1_macro" in run.data.metrics
    name = auto_model_name("text_csv", toy_data["train"], "multiclass")
    versions = client.search_model_versions(f"name='{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    assert {v.run_id for v in versions} == {r.info.run_id for r in runs}


def test_optuna_search_runs_its_trials_as_children(tiny_model_dir, toy_data, tmp_path):
    # The tiny setup's fixed optimizer.lr and max_epochs would win over the search space:
    # left out, so the trials draw them.
    fixed = [
        o
        for o in sweep_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith(("optimizer.lr=", "trainer.max_epochs="))
    ]
    done = run_sft(
        "train",
        *fixed,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "optimizer.lr=tag(log,interval(1e-3,1e-2))",
        "trainer.max_epochs=range(1,3)",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _, parent, children = parent_and_children(tmp_path)
    assert len(children) == 3
    assert parent.data.tags["sft.swept_keys"] == ("optimizer.lr,data.batch_size,trainer.max_epochs")
    for child in children:
        lr = float(child.data.params["optimizer.lr"])
        assert 1e-3 <= lr <= 1e-2
        assert child.data.params["data.batch_size"] in {"8", "16", "32"}
        # Named with the draw rounded to 4 significant digits, not all 17 of them.
        shown = child.info.run_name.split(",")[0]
        assert shown == f"lr={lr:.4g}", (shown, lr)
    # Drawn from the interval, not one fixed value.
    assert len({child.data.params["optimizer.lr"] for child in children}) == 3


def test_a_failed_job_still_ends_and_summarizes_the_sweep(tiny_model_dir, toy_data, tmp_path):
    done = run_sft(
        "train",
        "-m",
        *sweep_overrides(tiny_model_dir, toy_data, tmp_path),
        "optimizer.lr=1e-3,-1",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "optimizer.lr' must be > 0.0" in done.stderr
    _, parent, children = parent_and_children(tmp_path)
    assert parent.info.status == "FAILED"
    assert [c.info.status for c in children] == ["FINISHED"]


@pytest.mark.slow  # 7 jobs; that the experiment composes is checked fast in test_configs
def test_strategies_experiment_runs_every_strategy_and_ranks_them(
    tiny_model_dir, toy_data, tmp_path
):
    """experiments/strategies.yaml end to end on the tiny model: one child per strategy, each
    with the columns of the README's comparison table."""
    done = run_sft(
        "train",
        "experiment=strategies",
        *sweep_overrides(tiny_model_dir, toy_data, tmp_path),
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = parent_and_children(tmp_path)
    assert parent.info.run_name == "strategies"
    strategies = {c.data.params["finetune"]: c for c in children}
    assert set(strategies) == {
        "full",
        "linear_probe",
        "freeze_bottom",
        "gradual_unfreeze",
        "llrd",
        "lora",
        "reinit_top",
    }
    trainable = {name: c.data.metrics["params/trainable"] for name, c in strategies.items()}
    assert trainable["linear_probe"] == 3 * 32 + 3  # the head alone
    assert trainable["gradual_unfreeze"] == trainable["linear_probe"]  # epoch 0: head only
    # freeze_bottom's default k=2 freezes both layers of the tiny model: the head alone too.
    assert trainable["freeze_bottom"] == trainable["linear_probe"] < trainable["lora"]
    assert trainable["lora"] < trainable["full"] == trainable["llrd"] == trainable["reinit_top"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["loss.class_weights"] == "balanced"
        assert {"test/f1_macro", "test/acc", "time/total_s"} <= set(child.data.metrics)
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "leaderboard.csv", tmp_path))
    assert {"finetune", "test/f1_macro", "test/acc", "params/trainable", "time/total_s"} <= set(
        table
    )
    assert "| finetune=lora |" in done.stdout  # the printed leaderboard names each child


def test_child_names_show_numbers_to_4_significant_digits():
    from sft.tracking.sweep import child_run_name

    keys = ["optimizer.lr", "data.batch_size", "trainer.max_epochs", "finetune"]
    assert child_run_name(
        [
            "optimizer.lr=1.7000372989211023e-05",
            "data.batch_size=16",
            "trainer.max_epochs=3",
            "finetune=lora",
        ],
        keys,
    ) == ("lr=1.7e-05,bs=16,ep=3,finetune=lora")
    assert child_run_name(["optimizer.lr=1e-3", "data.batch_size=123456"], keys) == (
        "lr=0.001,bs=123456"
    )


def fake_run(name, params, metrics, overrides=""):
    from types import SimpleNamespace

    return SimpleNamespace(
        info=SimpleNamespace(run_name=name, run_id=f"id-{name}", status="FINISHED"),
        data=SimpleNamespace(
            params=params,
            metrics=metrics,
            tags={"sft.overrides": overrides, "sft.monitor": "val/acc"},
        ),
    )


def test_leaderboard_shows_counts_as_integers_and_swept_group_choices(tmp_path, monkeypatch):
    """digits_transfer sweeps a group choice (`+experiment/digits_transfer`), which is no
    param: its column showed `-` and the plot's x-axis `nan`; params/trainable showed
    22566532.0000."""
    import matplotlib.figure

    from sft.tracking.leaderboard import leaderboard, plot_sweep, terminal_table

    key = "experiment/digits_transfer"
    runs = [
        fake_run(
            job,
            {"seed": "42"},
            {
                "best/val/acc": acc,
                "val/acc": acc,
                "params/trainable": 22566532.0,
                "time/total_s": 212.345678,
            },
            f"+{key}={job} trainer.max_epochs=8",
        )
        for job, acc in (("pretrain", 0.917), ("scratch", 0.778), ("transfer", 0.931))
    ]
    runs.append(fake_run("old", {}, {"params/trainable": 1155.0}))  # no value, no metric
    table = leaderboard(runs, [key], "val/acc", "max")
    assert list(table[key].fillna("?")) == ["transfer", "pretrain", "scratch", "?"]
    text = terminal_table(table, [key], "val/acc")
    assert (
        "| 1 | transfer | FINISHED | transfer | 0.9310 | 0.9310 | 22,566,532 | 212.3457 |" in text
    )
    assert "| 4 | old | FINISHED | - | - | - | 1,155 | - |" in text
    assert "22566532.0" not in text and "nan" not in text

    ticks = []

    def record(fig, *args, **kwargs):
        ticks.extend(t.get_text() for ax in fig.axes for t in ax.get_xticklabels())

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    plot_sweep(table, [key], "best/val/acc", tmp_path / "plot.png")
    assert ticks == ["-", "pretrain", "scratch", "transfer"]


def test_a_failed_trial_that_ends_an_optuna_search_names_max_failure_rate(
    tiny_model_dir, toy_data, tmp_path
):
    """One failed trial (a NaN loss, a bad value) ended an Optuna search with the trial's own
    line alone: Optuna's default hydra.sweeper.max_failure_rate=0 stops at the first failure,
    and nothing said so. The last line now names the key, its value and how to go on."""
    done = run_sft(
        "train",
        # the tiny setup's fixed lr would win over the search's (Optuna's own merge)
        *(o for o in sweep_overrides(tiny_model_dir, toy_data, tmp_path) if "lr=" not in o),
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=choice(-1.0,-2.0)",  # every trial fails before it trains
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.rstrip().splitlines()[-1]
    assert "optimizer.lr' must be > 0.0" in last, last
    assert last.endswith(
        "; the Optuna search ends when more than hydra.sweeper.max_failure_rate=0 of a batch "
        "of trials fail (0: any one): raise it (e.g. hydra.sweeper.max_failure_rate=0.5) to go "
        "on past failed trials"
    ), last
