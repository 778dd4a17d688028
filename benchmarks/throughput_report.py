"""train_throughput.py's parent side: the GEMM peak that MFU is measured against, progress
lines, and the printed table."""

from __future__ import annotations

import platform
import statistics
import sys
import time

import torch

from startup_phases import table as phase_table


def progress(line: str) -> None:
    """One line of progress on stderr (the table and the figures go to stdout)."""
    print(f"[bench] {line}", file=sys.stderr, flush=True)


def peak_gflops(runs: dict, trials: list[float]) -> tuple[float, dict | None]:
    """The ceiling for MFU: the best GEMM trial, raised to the achieved FLOP/s of any training
    step above it (then that step's run, returned second, says the trials all read low), so
    that no run's or step's MFU exceeds 1."""
    peak, raised = max(trials), None
    for way, results in runs.items():
        for rep, result in enumerate(results, 1):
            fastest = max(result["gflops_per_s"], result.get("best_step_gflops_per_s", 0.0))
            if fastest > peak:
                peak = fastest
                raised = {
                    "way": way,
                    "rep": rep,
                    "gflops_per_s": peak,
                    "best_gemm_trial": max(trials),
                }
    return peak, raised


def median_phases(results: list[dict]) -> dict[str, float]:
    """Seconds per start-up phase, median over the repetitions (phases as listed by
    startup_phases.TARGETS, in the order they started)."""
    seconds: dict[str, list[float]] = {}
    for result in results:
        for label, start, end in sorted(result["phases"]["spans"], key=lambda s: s[1]):
            seconds.setdefault(label, []).append(end - start)
    return {label: statistics.median(values) for label, values in seconds.items()}


def table(report: dict) -> str:
    lines = [
        f"\nmode {report['mode']}, {report['repetitions']} repetitions, "
        f"{report['machine']['cpu']} ({report['machine']['threads']} threads), "
        f"precision {report['settings']['precision']}, "
        f"{'bf16' if 'bf16' in report['settings']['precision'] else 'fp32'} GEMM peak "
        f"{report['gemm_peak_gflops']:.0f} GFLOP/s",
        "| way | samples/s (median) | MFU | time to first step | peak RSS | val macro F1 |",
        "|---|---|---|---|---|---|",
    ]
    for way, r in report["ways"].items():
        lines.append(
            f"| {way} | {r['samples_per_s']:.2f} | {r['mfu']:.2f} | "
            f"{r['first_step_s']:.1f} s | {r['peak_rss_mb']:.0f} MB | "
            f"{r['val_f1_macro']:.4f} |"
        )
    for key in ("sft_over_plain", "sft_over_trainer", "rss_sft_over_plain"):
        if key in report:
            lines.append(f"{key}: {report[key]:.3f}")
    trials = report["gemm_trials_gflops"]
    lines.append(
        f"GEMM trials: {len(trials)}, {min(trials):.0f}-{max(trials):.0f} GFLOP/s "
        f"(the best is the peak)"
    )
    raised = report["peak_raised_by_run"]
    if raised:
        lines.append(
            f"note: a step of {raised['way']} rep {raised['rep']} ran at "
            f"{raised['gflops_per_s']:.0f} GFLOP/s, above the best GEMM trial "
            f"({raised['best_gemm_trial']:.0f}): the peak was raised to it"
        )
    lines.append(
        "\nstart-up phases of each way's median run (by time to first step); the "
        "JSON has every run's, and the median seconds per phase"
    )
    for way, r in report["ways"].items():
        runs = sorted(r["runs"], key=lambda run: run["first_step_s"] or 0)
        lines.append(phase_table(way, runs[len(runs) // 2]["phases"]))
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def gemm_peak_gflops(
    dtype=torch.float32, size: int = 2048, repeat: int = 5, blocks: int = 3
) -> float:
    """This machine's matmul speed in `dtype` (GFLOP/s), the best of `blocks` timed blocks of
    `repeat` size x size matmuls: the ceiling for model FLOP utilisation."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(repeat):
            a @ b
        best = max(best, 2 * size**3 * repeat / (time.perf_counter() - started) / 1e9)
    return best


def gemm_trial(dtype, number: int, total: int) -> float:
    """One GEMM trial between workers, reported on stderr."""
    gflops = gemm_peak_gflops(dtype)
    progress(f"GEMM trial {number}/{total}: {gflops:.0f} GFLOP/s")
    return gflops
