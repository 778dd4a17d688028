"""benchmarks/: the MFU ceiling never lies below what a run or a step achieved, and the
start-up phase table nests spans and shows the time outside them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import startup_phases
import throughput_report


def run(gflops: float, best_step: float) -> dict:
    return {"gflops_per_s": gflops, "best_step_gflops_per_s": best_step}


def test_the_peak_is_the_best_gemm_trial_when_no_step_beats_it():
    runs = {"sft": [run(50, 80)], "plain": [run(60, 90)]}
    assert throughput_report.peak_gflops(runs, [70, 100, 95]) == (100, None)


def test_a_step_above_every_gemm_trial_raises_the_peak_and_says_which():
    runs = {"sft": [run(50, 80), run(55, 130)], "plain": [run(60, 120)]}
    peak, raised = throughput_report.peak_gflops(runs, [70, 100])
    assert peak == 130
    assert raised == {"way": "sft", "rep": 2, "gflops_per_s": 130, "best_gemm_trial": 100}
    assert all(r["gflops_per_s"] / peak <= 1 for rs in runs.values() for r in rs)


def test_phase_table_nests_spans_and_shows_unlisted_time():
    phases = {
        "spans": [
            ["interpreter", 0.0, 2.0],
            ["train (all)", 3.0, 10.0],
            ["load data", 3.5, 4.5],
            ["load model", 5.0, 7.0],
            ["first step done", 10.0, 10.0],
        ],
        "counts": {"MlflowClient()": [2, 1.5]},
        "missing": ["sft.gone:f"],
        "first_step_s": 10.0,
    }
    lines = startup_phases.table("sft", phases).splitlines()
    assert "| . load data | 3.50 | 1.00 |" in lines
    assert "| . (other: imports, unlisted work) | | 4.00 |" in lines  # 7 s less 1 and 2
    assert "| first step done | 10.00 | - |" in lines
    assert "| MlflowClient() x2 (anywhere in the run) | | 1.50 |" in lines
    assert lines[-1] == "not found (skipped): sft.gone:f"


def test_import_times_sum_self_time_per_top_level_package():
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:   1000000 |    1000000 |   torch._C\n"
        "import time:   2000000 |    3000000 | torch\n"
        "import time:    500000 |     500000 | mlflow\n"
        "some other line\n"
    )
    assert startup_phases.import_times(stderr).splitlines() == [
        "imports: 3.5 s in all",
        "| package | seconds |",
        "|---|---|",
        "| torch | 3.00 |",
        "| mlflow | 0.50 |",
    ]
