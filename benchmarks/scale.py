"""Rows x classes: what each phase of one `sft-train` run costs as the data grows.

A synthetic CSV per size (train `--rows`, validation and test a tenth of that each; row i
belongs to class i mod C and holds that class's keyword among filler words), a tiny BERT (2
layers, hidden 32, word-level vocab holding the keywords, built like the tests'
`tiny_model_dir`) and `sft-train`'s config tree with a fixed number of training steps
(`trainer.limit_train_batches`, one epoch), so the framework's own cost shows: the full
validation and test splits, the post-hoc step, reports, the model folder, log_model. Each
size runs in a fresh process, one torch thread, with `trainer.deterministic=true` (the
default). Phases: fit, validate (inside fit), test, post-hoc, reports, log_model and the
rest of after-fit (time/after_fit_s less these), plus CPU seconds and peak RSS of the
process. Growth exponents are log(cost ratio) / log(size ratio) between neighbouring sizes
(1: linear). Sizes with more classes than rows are skipped. Not run by CI:

  python benchmarks/scale.py                                  # 1k, 10k rows x 3, 1000 classes
  python benchmarks/scale.py --rows 1000,10000,100000 --classes 3,1000,10000
  python benchmarks/scale.py --checkout /work/main --out /tmp/before.json   # another sft
  python benchmarks/scale.py --baseline /tmp/sft-before      # each size there, then here

Writes benchmarks/results/scale.json (or --out) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILLER = ["the", "drug", "it", "was", "and", "my", "doctor", "pill", "day", "week", "felt"]
PHASES = ("fit", "validate", "test", "post_hoc", "reports", "log_model", "after_fit_other")


def write_split(path: Path, rows: int, classes: int, seed: int) -> Path:
    """`rows` rows, row i of class i mod `classes`: filler words and the keyword `kw<c>`."""
    import pandas as pd

    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(rows):
        c = i % classes
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
        words.insert(rng.randrange(len(words) + 1), f"kw{c}")
        texts.append(" ".join(words))
        labels.append(f"c{c:05d}")
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def tiny_bert(folder: Path, classes: int) -> Path:
    """The tests' tiny BERT (tests/conftest.py::save_tiny_bert), with the class keywords in
    its vocab."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import save_tiny_bert

    return save_tiny_bert(folder, [f"kw{c}" for c in range(classes)])


# -- one size, in its own process ---------------------------------------------------------


class Spans:
    """Seconds spent inside wrapped functions and between Lightning hooks, by phase."""

    def __init__(self):
        self.seconds = dict.fromkeys(("validate", "test", "post_hoc", "reports"), 0.0)
        self.started: dict[str, float] = {}

    def wrap(self, owner, name: str, phase: str) -> None:
        """Time every call of `owner.name` as `phase` (skipped where it does not exist)."""
        original = getattr(owner, name, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - started

        setattr(owner, name, timed)

    def hooks(self, cls, start: str, end: str, phase: str) -> None:
        """Time from `cls.start` to the end of `cls.end` (an evaluation epoch) as `phase`."""
        first, last = getattr(cls, start), getattr(cls, end)

        def begin(module, *args, **kwargs):
            self.started[phase] = time.perf_counter()
            return first(module, *args, **kwargs)

        def finish(module, *args, **kwargs):
            try:
                return last(module, *args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - self.started.pop(phase)

        setattr(cls, start, begin)
        setattr(cls, end, finish)


def run_worker(size: dict, result_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from hydra import compose, initialize_config_dir
    from mlflow import MlflowClient

    import sft.training.recording as recording
    from sft.cli import CONF_DIR
    from sft.model.module import SFTModule
    from sft.train import train_task

    spans = Spans()
    spans.hooks(SFTModule, "on_validation_epoch_start", "on_validation_epoch_end", "validate")
    spans.hooks(SFTModule, "on_test_epoch_start", "on_test_epoch_end", "test")
    spans.wrap(recording, "post_hoc", "post_hoc")
    spans.wrap(recording, "write_reports", "reports")
    rows, classes = size["rows"], size["classes"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        held = max(rows // 10, 1)
        paths = {
            split: write_split(tmp / f"{split}.csv", n, classes, seed)
            for split, n, seed in (("train", rows, 0), ("val", held, 1), ("test", held, 2))
        }
        model = tiny_bert(tmp / "tiny-bert", classes)
        overrides = [
            "model=hf",
            f"model.name_or_path={model}",
            "model.max_length=32",
            "data=text_csv",
            f"data.train_path={paths['train']}",
            f"data.val_path={paths['val']}",
            f"data.test_path={paths['test']}",
            "data.batch_size=32",
            "optimizer.lr=3e-3",
            "trainer.max_epochs=1",
            f"+trainer.limit_train_batches={size['steps']}",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            f"paths.outputs={tmp}/out",
            f"paths.run_dir={tmp}/out/run",
            *size["overrides"],
        ]
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
        started = time.perf_counter()
        train_task(cfg)
        wall = time.perf_counter() - started
        client = MlflowClient(f"sqlite:///{tmp}/out/mlflow.db")
        run = client.search_runs([client.get_experiment_by_name("text_csv").experiment_id])[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    m = run.data.metrics
    seconds = {"fit": m["time/fit_s"], **spans.seconds, "log_model": m["time/log_model_s"]}
    named = sum(seconds[p] for p in ("test", "post_hoc", "reports", "log_model"))
    seconds["after_fit_other"] = m["time/after_fit_s"] - named
    result = {
        **size,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "after_fit_s": round(m["time/after_fit_s"], 3),
        "total_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "after_fit_over_fit": round(m["time/after_fit_s"] / m["time/fit_s"], 3),
        "time_metrics": {k: round(v, 3) for k, v in sorted(m.items()) if k.startswith("time/")},
        "test_f1_macro": round(m.get("test/f1_macro", float("nan")), 4),
    }
    result_path.write_text(json.dumps(result))


# -- the parent: one process per size, a table with growth exponents -------------------------


def launch(size: dict, checkout: Path, timeout: float) -> dict:
    """Run one size in a fresh process importing sft from `checkout`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {
            **os.environ,
            "PYTHONPATH": str(checkout),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        command = [sys.executable, __file__, "--worker", json.dumps(size), "--result", out.name]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {**size, "error": f"over the {timeout:.0f} s limit (--timeout)"}
        if done.returncode != 0:
            return {**size, "error": done.stderr.strip().splitlines()[-1][:300]}
        return json.loads(Path(out.name).read_text())


def exponent(a: float, b: float, size_a: int, size_b: int) -> float | None:
    """log(b / a) / log(size_b / size_a): 1 grows linearly, 2 quadratically."""
    if a <= 0 or b <= 0 or size_a == size_b:
        return None
    return round(math.log(b / a) / math.log(size_b / size_a), 2)


def growth(results: list[dict]) -> list[dict]:
    """Exponents of every phase, CPU seconds and after-fit between neighbouring sizes along
    rows (same classes) and along classes (same rows); peak RSS as a ratio to the run with
    the fewest classes of the same rows."""
    done = [r for r in results if "error" not in r]
    out = []
    for axis, other in (("rows", "classes"), ("classes", "rows")):
        for fixed in sorted({r[other] for r in done}):
            line = sorted((r for r in done if r[other] == fixed), key=lambda r: r[axis])
            for a, b in itertools.pairwise(line):
                costs = {k: (a["seconds"][k], b["seconds"][k]) for k in PHASES}
                costs["after_fit"] = (a["after_fit_s"], b["after_fit_s"])
                costs["cpu"] = (a["cpu_s"], b["cpu_s"])
                out.append(
                    {
                        "along": axis,
                        other: fixed,
                        "from": a[axis],
                        "to": b[axis],
                        **{k: exponent(*v, a[axis], b[axis]) for k, v in costs.items()},
                    }
                )
    for r in done:
        base = min((s for s in done if s["rows"] == r["rows"]), key=lambda s: s["classes"])
        r["peak_rss_vs_fewest_classes"] = round(r["peak_rss_mib"] / base["peak_rss_mib"], 3)
    return out


def table(results: list[dict]) -> str:
    head = ["rows", "classes", *PHASES, "after-fit", "after/fit", "CPU s", "peak MiB", "RSS x"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['rows']} | {r['classes']} | {r['error']} |")
            continue
        cells = [r["rows"], r["classes"], *(f"{r['seconds'][p]:.2f}" for p in PHASES)]
        cells += [f"{r['after_fit_s']:.2f}", f"{r['after_fit_over_fit']:.3f}", f"{r['cpu_s']:.1f}"]
        cells += [f"{r['peak_rss_mib']:.0f}", f"{r.get('peak_rss_vs_fewest_classes', 1):.2f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000,10000", help="train rows, comma-separated")
    parser.add_argument("--classes", default="3,1000", help="class counts, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="training steps (batches of 32)")
    parser.add_argument("--overrides", default="", help="extra sft-train overrides, spaces")
    parser.add_argument("--checkout", default=str(ROOT), help="the sft checkout to measure")
    parser.add_argument(
        "--baseline", help="another checkout, run before this one at each size (side by side)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per size")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, os.environ["PYTHONPATH"])  # the measured checkout's sft
        return run_worker(json.loads(args.worker), Path(args.result))
    ways = {"current": Path(args.checkout).resolve()}
    if args.baseline:
        ways = {"baseline": Path(args.baseline).resolve(), **ways}
    results: dict[str, list[dict]] = {}
    for rows in map(int, args.rows.split(",")):
        for classes in map(int, args.classes.split(",")):
            size = {
                "rows": rows,
                "classes": classes,
                "steps": args.steps,
                "overrides": args.overrides.split(),
            }
            if classes > rows:
                for way in ways:
                    skipped = {**size, "error": "skipped: more classes than train rows"}
                    results.setdefault(way, []).append(skipped)
                continue
            for way, checkout in ways.items():
                print(f"{way}: rows {rows} x classes {classes}", file=sys.stderr, flush=True)
                result = {"way": way, **launch(size, checkout, args.timeout)}
                results.setdefault(way, []).append(result)
                print(table(results[way][-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    report = {
        "checkouts": {w: {"path": str(c), "git": git_head(c)} for w, c in ways.items()},
        "command": " ".join(sys.argv),
        "results": results,
        "growth": {way: growth(r) for way, r in results.items()},
        "phases": list(PHASES),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for way, rows in results.items():
        print(f"\n{way} ({ways[way]})\n{table(rows)}")
    print(f"written to {out}")


def git_head(checkout: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
