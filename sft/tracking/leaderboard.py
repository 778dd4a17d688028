"""Leaderboards from the tracking store: one row per run, its swept params and final metrics.

`summarize_sweep` writes a sweep's leaderboard (CSV, Markdown) and a plot of the optimized
metric against each swept parameter into its parent run; `sft-leaderboard` (sft/leaderboard.py)
prints the leaderboard of any sweep or experiment in the terminal with `experiment_runs`,
`find_sweep` and `terminal_table`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sft.errors import SFTConfigError
from sft.tracking.reports import format_column, markdown_table

# Params that differ between any two runs and say nothing about the recipe.
NOISE_PARAMS = ("paths.", "callbacks.model_checkpoint.dirpath", "logger.", "hydra.")


def child_runs(client, parent_run_id: str) -> list:
    """The runs nested under `parent_run_id`, oldest first."""
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=10000,
    )
    return sorted(runs, key=lambda r: r.info.start_time)


def monitor_of(runs) -> tuple[str, str]:
    """The optimized metric and its direction, as the runs recorded them."""
    for run in runs:
        metric = run.data.tags.get("sft.monitor")
        if metric:
            return metric, run.data.tags.get("sft.monitor_mode", "max")
    return "val/f1_macro", "max"


def leaderboard(runs, keys: list[str], metric: str, mode: str) -> pd.DataFrame:
    """Rows ranked by the best value of `metric` each run reached (missing values last)."""
    rows = []
    for run in runs:
        row = {"run": run.info.run_name, "run_id": run.info.run_id, "status": run.info.status}
        row.update({key: swept_value(run, key) for key in keys})
        # Runs that ended early have no best/ metric yet: their last value stands in.
        row[f"best/{metric}"] = run.data.metrics.get(f"best/{metric}", run.data.metrics.get(metric))
        if f"best/{metric}_std" in run.data.metrics:  # a CV / seed-repeat run (its std)
            row[f"best/{metric}_std"] = run.data.metrics[f"best/{metric}_std"]
        row.update(
            {
                k: v
                for k, v in sorted(run.data.metrics.items())
                if k.startswith(("val/", "test/", "params/", "time/"))
            }
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    score = f"best/{metric}"
    table = table.sort_values(score, ascending=(mode == "min"), na_position="last", kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def swept_value(run, key: str) -> str | None:
    """The run's value of a swept key: its param, else (a swept group choice that is no param,
    e.g. `+experiment/digits_transfer=transfer`) the value its overrides (tag `sft.overrides`)
    gave it; None when neither has it."""
    value = run.data.params.get(key)
    if value is not None:
        return value
    for override in run.data.tags.get("sft.overrides", "").split():
        name, sep, given = override.partition("=")
        if sep and name.lstrip("+~") == key:
            return given
    return None


def varying_params(runs) -> list[str]:
    """Params whose values differ across the `runs` that logged them (what an experiment's
    runs were compared on), but for those that differ only because each run has its own
    folder (a value inside the run's `sft.run_dir`, e.g. its checkpoint folder)."""
    keys = sorted({k for r in runs for k in r.data.params if not k.startswith(NOISE_PARAMS)})
    return [
        k
        for k in keys
        if len({r.data.params[k] for r in runs if k in r.data.params}) > 1
        # "\0": a run without the tag has no folder that a value could be inside
        and not all(
            str(r.data.params.get(k)).startswith(r.data.tags.get("sft.run_dir") or "\0")
            for r in runs
        )
    ]


def summarize_sweep(tracker, keys: list[str], out_dir: Path) -> str:
    """Write the sweep's leaderboard and plot into its parent run; return them as text."""
    runs = child_runs(tracker.client, tracker.run_id)
    if not runs:
        return "Sweep finished without runs."
    metric, mode = monitor_of(runs)
    table = leaderboard(runs, keys, metric, mode)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "leaderboard.csv", index=False)
    (out_dir / "leaderboard.md").write_text(markdown_table(table) + "\n")
    paths = [out_dir / "leaderboard.csv", out_dir / "leaderboard.md"]
    if keys and table[f"best/{metric}"].notna().any():
        paths.append(plot_sweep(table, keys, f"best/{metric}", out_dir / "sweep_plot.png"))
    curves = plot_learning_curves(tracker.client, runs, metric, out_dir / "learning_curves.png")
    if curves is not None:
        paths.append(curves)
    for path in paths:
        tracker.log_artifact(path)
    best = table.iloc[0]
    score = best[f"best/{metric}"]
    lines = [
        f"Sweep leaderboard ({len(table)} runs, ranked by best {metric}):",
        terminal_table(table, keys, metric),
    ]
    if score is not None and not pd.isna(score):
        tracker.set_tags(
            {
                "sft.best_run_id": best["run_id"],
                "sft.best_run_name": best["run"],
                "sft.monitor": metric,
                "sft.monitor_mode": mode,
            }
        )
        tracker.log_metrics({f"best/{metric}": float(score)})
        lines.append(f"Best: {best['run']} ({best['run_id']}), {metric} = {score:.4f}")
    # The parent run's page opens on its description: the best job, the plot, the table.
    tracker.set_tags(
        {"mlflow.note.content": sweep_note(tracker.run_id, table, keys, metric, lines, paths)}
    )
    return "\n".join(lines)


def sweep_note(
    run_id: str,
    table: pd.DataFrame,
    keys: list[str],
    metric: str,
    lines: list[str],
    paths: list[Path],
) -> str:
    """The sweep's summary as Markdown: headline, a leaderboard narrow enough for the run page
    (leaderboard.csv has every column) and the plots (shown from the run's artifacts)."""
    images = [
        f"![{p.stem}](get-artifact?path={p.name}&run_uuid={run_id})"
        for p in paths
        if p.suffix == ".png"
    ]
    wanted = ["rank", "run", *keys, f"best/{metric}", "test/f1_macro", "test/acc", "test/mse"]
    narrow = table[[c for c in dict.fromkeys(wanted) if c in table.columns]].fillna("-")
    headlines = [f"**{line}**" for line in [lines[0], *lines[2:]]]
    return "\n\n".join([*headlines, markdown_table(narrow), *images])


def terminal_table(
    table: pd.DataFrame, keys: list[str], metric: str, constants: bool = False
) -> str:
    """The leaderboard's most useful columns, as a Markdown table. `constants`: a column the
    same in every run (of 2+) is said once, below it (`Same in every run: status FINISHED`)."""
    wanted = [
        "rank",
        "run",
        "status",
        *keys,
        f"best/{metric}",
        "val/acc",
        "val/f1_macro",
        "val/mse",
        "test/acc",
        "test/f1_macro",
        "test/mse",
        "test/r2",
        "params/trainable",
        "time/total_s",
    ]
    columns = [c for c in dict.fromkeys(wanted) if c in table.columns]
    shown = table[columns].copy()
    for column in columns:  # CV and seed-repeat runs: `mean ± std` over their children
        if f"{column}_std" in table.columns:
            stds = format_column(table[f"{column}_std"], "")
            shown[column] = [
                f"{m} ± {s}" if s and m != "-" else m
                for m, s in zip(format_column(table[column]), stds)
            ]
    if not constants or len(shown) < 2:
        return markdown_table(shown)  # missing values print as `-`
    cells = {c: format_column(shown[c]) for c in columns}  # as the table prints them
    same = [
        c
        for c in columns
        if c not in ("rank", "run", f"best/{metric}") and len({str(v) for v in cells[c]}) == 1
    ]
    text = markdown_table(shown[[c for c in columns if c not in same]])
    if same:
        text += "\nSame in every run: " + ", ".join(f"{c} {cells[c][0]}" for c in same)
    return text


def plot_sweep(table: pd.DataFrame, keys: list[str], score: str, path: Path) -> Path:
    """The optimized metric against each swept parameter, one panel per parameter."""
    import matplotlib  # lazy: matplotlib only to draw the sweep's plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = pd.to_numeric(table[key], errors="coerce")
        if values.notna().all():
            ax.scatter(values, table[score])
            positive = values[values > 0]
            if len(positive) == len(values) and positive.max() / positive.min() >= 10:
                ax.set_xscale("log")
        else:
            labels = table[key].fillna("-").astype(str)
            order = sorted(labels.unique())
            ax.scatter([order.index(v) for v in labels], table[score])
            ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
        ax.set_xlabel(key)
        ax.set_ylabel(score)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_learning_curves(client, runs, metric: str, path: Path) -> Path | None:
    """`metric` per epoch of every run, one line each (None when no run logged it)."""
    import matplotlib  # lazy: as above

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    histories = {
        run.info.run_name: client.get_metric_history(run.info.run_id, metric) for run in runs
    }
    histories = {name: h for name, h in histories.items() if h}
    if not histories:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, history in histories.items():
        points = sorted(history, key=lambda m: m.step)
        ax.plot(range(1, len(points) + 1), [m.value for m in points], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def find_sweep(client, sweep: str | None, experiment: str | None):
    """The parent run named by id or run name (latest of that name), or the latest sweep.

    Raises SFTConfigError when there is no such experiment or sweep."""
    if sweep and len(sweep) == 32 and all(c in "0123456789abcdef" for c in sweep):
        return client.get_run(sweep)
    experiments = (
        [client.get_experiment_by_name(experiment)] if experiment else client.search_experiments()
    )
    if experiment and experiments[0] is None:
        raise SFTConfigError(f"experiment: no MLflow experiment named '{experiment}'")
    filters = ["tags.`sft.sweep` = 'true'"]
    if sweep:
        filters.append(f"attributes.run_name = '{sweep}'")
    runs = client.search_runs(
        [e.experiment_id for e in experiments],
        filter_string=" and ".join(filters),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        what = f"named '{sweep}'" if sweep else "at all"
        raise SFTConfigError(f"sweep: no sweep {what} in the tracking store")
    return runs[0]


def experiment_runs(client, experiment: str) -> list:
    """The top-level runs of an experiment (no sweep parents, no sweep children).

    Raises SFTConfigError when the experiment does not exist."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SFTConfigError(f"experiment: no MLflow experiment named '{experiment}'")
    return [
        r
        for r in client.search_runs([found.experiment_id], max_results=10000)
        if "mlflow.parentRunId" not in r.data.tags and "sft.sweep" not in r.data.tags
    ]
