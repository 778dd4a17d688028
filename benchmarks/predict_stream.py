"""Peak memory and seconds of `sft-predict` as the input grows, side by side between two
checkouts (say main before streaming, and this one): each run is a fresh process that
predicts a generated CSV of short reviews with the tests' tiny BERT (so the framework's own
cost shows, not the network's) and writes a CSV; peak RSS is its VmHWM. Not run by CI:

  python benchmarks/predict_stream.py --rows 10000,100000 --checkout /path/to/main
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = "good bad pill doctor week great awful drug felt okay day side effects".split()

CODE = """
import sys, time
sys.path.insert(0, {root!r})
from omegaconf import OmegaConf
from sft.predict import predict_task
started = time.perf_counter()
predict_task(OmegaConf.create({{"model_uri": {model!r}, "input": {source!r}, "output": {out!r},
    "text_column": "review", "batch_size": 64, "progress": False, "backend": "auto",
    "tracking_uri": "sqlite:///unused.db"}}))
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(int(hwm) / 1024, time.perf_counter() - started)
"""


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with path.open("w") as out:
        out.write("id,review\n")
        for i in range(rows):
            out.write(f"{i},{' '.join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))}\n")


def measure(checkout: str, model: Path, source: Path, out: Path) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of one sft-predict run by `checkout`'s sft."""
    code = CODE.format(root=checkout, model=str(model), source=str(source), out=str(out))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=checkout
    )
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    peak, seconds = done.stdout.split()[-2:]
    return float(peak), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--checkout", action="append", default=None, help="repeatable")
    args = parser.parse_args()
    checkouts = args.checkout or [str(ROOT)]
    if str(ROOT) not in checkouts:
        checkouts.append(str(ROOT))
    sys.path.insert(0, str(ROOT))
    from benchmarks.predict_throughput import tiny_model

    report = []
    with tempfile.TemporaryDirectory(prefix="sft-stream-") as tmp:
        model = tiny_model(Path(tmp))[0]
        for rows in [int(r) for r in args.rows.split(",")]:
            source = Path(tmp) / f"in-{rows}.csv"
            write_csv(source, rows)
            for checkout in checkouts:  # one after the other, same input
                peak, seconds = measure(checkout, model, source, Path(tmp) / "out.csv")
                report.append(
                    {"rows": rows, "checkout": checkout, "peak_mib": peak, "seconds": seconds}
                )
                print(json.dumps(report[-1]), flush=True)


if __name__ == "__main__":
    main()
