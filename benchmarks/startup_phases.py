"""Where a worker's time to first step goes: timed spans around the start-up calls of sft and
of the plain loop (data, tokenizer, model, MLflow store, Lightning set-up), in seconds since
the process started.

train_throughput.py's workers install these spans (a few perf_counter calls: no measurable
cost) and print each finished phase to stderr, so a run shows progress; its report holds the
phases. Run alone, this script starts one fresh worker per way and prints their phase tables;
--importtime also runs each worker under `python -X importtime` and sums the import time of
each top-level package (that run's phase times include the importtime overhead):

  python benchmarks/startup_phases.py                     # sft and plain, quick mode
  python benchmarks/startup_phases.py --ways sft --importtime

A target that no longer exists (sft's modules move) is skipped and listed, never an error.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import json
import os
import sys
import time
from pathlib import Path

# (label, "module:attribute[.method]") per way; the order is the order of a run.
TARGETS = {
    "sft": [
        ("sft-train app (all)", "sft.cli:run_app"),
        ("train task (all; Hydra composed the config before it)", "sft.train:train_task"),
        ("validate config", "sft.config.schema:validate"),
        ("train() (all)", "sft.training.run:train"),
        ("run tags (git, versions)", "sft.training.recording:run_tags"),
        ("MLflow client + store check", "sft.tracking.mlflow_tracker:open_client"),
        ("MLflow open run", "sft.tracking.mlflow_tracker:MLflowTracker.open"),
        ("record config (all)", "sft.training.recording:RunRecorder.start"),
        ("write + log config", "sft.training.recording:write_config"),
        ("MLflow log params", "sft.tracking.mlflow_tracker:MLflowTracker.log_params"),
        ("MLflow log artifact", "sft.tracking.mlflow_tracker:MLflowTracker.log_artifact"),
        ("MLflow set tags", "sft.tracking.mlflow_tracker:MLflowTracker.set_tags"),
        ("prepare data (all: read, tokenize)", "sft.training.run:prepare_data"),
        ("read + split data", "sft.data.module:TextDataModule.load"),
        ("load tokenizer", "sft.training.run:load_processor"),
        ("tokenize splits", "sft.data.module:TextDataModule.tokenize"),
        ("record data (fingerprints, tags, report)", "sft.training.recording:RunRecorder.data"),
        ("build module (all)", "sft.training.run:build_module"),
        ("load backbone", "sft.model.backbone:Backbone.__init__"),
        ("Lightning logger", "sft.tracking.mlflow_tracker:MLflowTracker.lightning_logger"),
        ("build Trainer", "sft.training.run:build_trainer"),
        ("fit (all, to the first step)", "sft.training.run:fit"),
        ("train dataloader", "sft.data.module:TextDataModule.train_dataloader"),
        ("configure optimizers", "sft.model.module:SFTModule.configure_optimizers"),
        (
            "first batch handed to the step",
            "sft.training.throughput:TrainClock.on_train_batch_start",
        ),
    ],
    "plain": [
        ("read + split data", "sft.data.module:TextDataModule.load"),
        ("load tokenizer", "sft.model.backbone:load_tokenizer"),
        ("tokenize splits", "sft.data.module:TextDataModule.tokenize"),
        ("load backbone", "sft.model.backbone:Backbone.__init__"),
    ],
    "trainer": [],
}
# Both sft's TrainClock and the plain loop call it at the end of their first step.
FIRST_STEP = "sft.training.throughput:process_age"
# Counted (calls, seconds) wherever they happen: the costs that may be paid more than once.
COUNTED = [
    ("MlflowClient()", "mlflow.tracking.client:MlflowClient.__init__"),
    ("SqlAlchemyStore()", "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore.__init__"),
]


def process_age() -> float:
    """Seconds since this process started (psutil), else since this module was imported."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # psutil missing or /proc unreadable: a later origin, still consistent
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


class Phases:
    """The spans of one worker: [label, start, end] in seconds since the process started."""

    def __init__(self, way: str, echo: bool = True):
        self.way, self.echo = way, echo
        self.spans: list[list] = []
        self.counts: dict[str, list] = {}
        self.missing: list[str] = []
        self._pending: dict[str, list] = {}  # module -> its targets, patched once imported
        self._open: dict[str, float] = {}  # label -> start of the spans not ended yet
        self.stop_at: str | None = None
        self.profiler = None
        if os.environ.get("SFT_BENCH_CPROFILE"):
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()
        self.first_step: float | None = None
        self.mark("interpreter + imports before the worker")

    def mark(self, label: str) -> None:
        """A span from the end of the last one (or the process start) to now."""
        start = self.spans[-1][2] if self.spans else 0.0
        self.span(label, start, process_age())

    def span(self, label: str, start: float, end: float) -> None:
        self.spans.append([label, start, end])
        if self.echo:
            print(
                f"[bench] {self.way}: {label} {end - start:.2f} s (at {end:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    def install(self) -> None:
        """Wrap this way's targets as their modules are imported (so that every import still
        happens where the run does it); each span times the first call only."""
        targets = [(t, functools.partial(self._timed, label)) for label, t in TARGETS[self.way]]
        targets.append((FIRST_STEP, self._first_step))
        if self.way == "sft":
            targets += [(t, functools.partial(self._counted, label)) for label, t in COUNTED]
        for target, handler in targets:
            module_name = target.partition(":")[0]
            self._pending.setdefault(module_name, []).append((target, handler))
        for module_name in list(self._pending):
            if module_name in sys.modules:
                self._patch(sys.modules[module_name])
        sys.meta_path.insert(0, _PatchOnImport(self))

    def step_done(self) -> None:
        """Call at the end of the first training step (later calls are ignored). With
        `stop_at` set, write {"phases": ...} there and end the process: start-up only."""
        if self.first_step is None:
            self.first_step = process_age()
            self.span("first step done", self.first_step, self.first_step)
            if self.profiler is not None:
                self.profiler.disable()
                self.profiler.dump_stats(os.environ["SFT_BENCH_CPROFILE"])
            if self.stop_at is not None:
                open_spans = [t for t in self._open if t not in (s[0] for s in self.spans)]
                for label in open_spans:  # the calls that hold the first step: end them here
                    self.span(label, self._open[label], self.first_step)
                Path(self.stop_at).write_text(json.dumps({"phases": self.as_dict()}))
                sys.stderr.flush()
                os._exit(0)  # skip the rest of the run (and Lightning's clean-up): start-up only

    def finish(self) -> None:
        """Call when the worker is done: the rest of the run, after the first step."""
        if self.first_step is not None:
            self.span(
                "after the first step (training, evaluation, logging)",
                self.first_step,
                process_age(),
            )

    def _first_step(self, original, *args, **kwargs):
        value = original(*args, **kwargs)
        self.step_done()
        return value

    def _patch(self, module) -> None:
        for target, handler in self._pending.pop(module.__name__, []):
            owner = module
            *parents, name = target.partition(":")[2].split(".")
            try:
                for parent in parents:
                    owner = getattr(owner, parent)
                original = getattr(owner, name)
            except AttributeError:
                self.missing.append(target)
                continue
            setattr(owner, name, _wrapped(original, handler))

    def _timed(self, label, original, *args, **kwargs):
        if any(s[0] == label for s in self.spans):  # later calls are not start-up
            return original(*args, **kwargs)
        start = process_age()
        self._open.setdefault(label, start)
        if label.startswith("first batch"):  # a moment, not a span
            self.span(label, start, start)
            return original(*args, **kwargs)
        try:
            return original(*args, **kwargs)
        finally:
            end = process_age()
            if self.first_step is not None and label.startswith("fit"):
                end = self.first_step  # fit's own span ends at the first step
            self.span(label, start, end)

    def _counted(self, label, original, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            count = self.counts.setdefault(label, [0, 0.0])
            count[0] += 1
            count[1] += time.perf_counter() - started

    def as_dict(self) -> dict:
        never = [t for targets in self._pending.values() for t, _ in targets]
        return {
            "spans": self.spans,
            "counts": self.counts,
            "missing": self.missing + never,
            "first_step_s": self.first_step,
        }


def _wrapped(original, handler):
    """A plain function (so that it binds as a method) that calls handler(original, ...)."""

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        return handler(original, *args, **kwargs)

    return wrapped


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: makes the real loader of a target's module patch it once run."""

    def __init__(self, phases: Phases):
        self.phases = phases

    def find_spec(self, name, path=None, target=None):
        if name not in self.phases._pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        execute, phases = spec.loader.exec_module, self.phases

        def exec_module(module):
            execute(module)
            phases._patch(module)

        spec.loader.exec_module = exec_module
        return spec


def table(way: str, phases: dict) -> str:
    """Markdown table of the start-up: spans in the order they start, cut at the first step,
    each within the one that holds it (indented), and the time a span spends outside its
    listed parts as '(other)'; the rest of the run in one line at the end."""
    cut = phases["first_step_s"] or float("inf")  # start-up only: clip the spans there
    after = [s for s in phases["spans"] if s[0].startswith("after the first step")]
    spans = sorted(
        (
            [span[0], span[1], min(span[2], cut)]
            for span in phases["spans"]
            if span[1] <= cut and span not in after
        ),
        key=lambda s: (s[1], -s[2]),
    )
    root = {"label": None, "start": 0.0, "end": float("inf"), "parts": []}
    stack = [root]
    for label, start, end in spans:
        while end > stack[-1]["end"] + 1e-6 or (
            start >= stack[-1]["end"] - 1e-6 and stack[-1] is not root
        ):
            stack.pop()
        node = {"label": label, "start": start, "end": end, "parts": []}
        stack[-1]["parts"].append(node)
        if end > start:
            stack.append(node)
    lines = [
        f"\n{way}: time to first step {phases['first_step_s'] or 0:.1f} s",
        "| phase | from (s) | seconds |",
        "|---|---|---|",
    ]

    def walk(node, depth):
        for part in node["parts"]:
            seconds = part["end"] - part["start"]
            lines.append(
                f"| {'. ' * depth}{part['label']} | {part['start']:.2f} | "
                + (f"{seconds:.2f} |" if seconds else "- |")
            )
            walk(part, depth + 1)
        if node is not root and node["parts"]:
            other = (node["end"] - node["start"]) - sum(
                p["end"] - p["start"] for p in node["parts"]
            )
            if other > 0.05:
                lines.append(f"| {'. ' * depth}(other: imports, unlisted work) | | {other:.2f} |")

    walk(root, 0)
    for label, start, end in after:
        lines.append(f"| {label} | {start:.2f} | {end - start:.2f} |")
    for label, (calls, seconds) in phases["counts"].items():
        lines.append(f"| {label} x{calls} (anywhere in the run) | | {seconds:.2f} |")
    if phases["missing"]:
        lines.append(f"not found (skipped): {', '.join(phases['missing'])}")
    return "\n".join(lines)


def import_times(stderr: str, top: int = 15) -> str:
    """`-X importtime` output -> the top-level packages with the most import time (self)."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if not parts[0].isdigit():
            continue  # the header
        package = parts[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(parts[0]) / 1e6
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    lines = [f"imports: {sum(totals.values()):.1f} s in all", "| package | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in ranked[:top]]
    return "\n".join(lines)


def main() -> None:
    import argparse

    import train_throughput as bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ways", default="sft,plain")
    parser.add_argument("--mode", choices=sorted(bench.MODES), default="quick")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--cprofile",
        metavar="FILE",
        help="profile each worker to its first step into FILE.<way> (read with python -m pstats)",
    )
    parser.add_argument(
        "--whole-run",
        action="store_true",
        help="run each worker to its end (default: stop at its first step)",
    )
    args = parser.parse_args()
    if not args.whole_run:
        os.environ["SFT_BENCH_STOP_AT_FIRST_STEP"] = "1"
    for way in args.ways.split(","):
        if args.cprofile:
            os.environ["SFT_BENCH_CPROFILE"] = str(Path(f"{args.cprofile}.{way}").resolve())
        flags = ["-X", "importtime"] if args.importtime else []
        result, stderr = bench.launch(way, args.mode, python_flags=flags)
        print(table(way, result["phases"]))
        if args.importtime:
            print(import_times(stderr))


if __name__ == "__main__":
    main()
