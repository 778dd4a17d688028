"""Peak memory of reading a CSV, side by side: sft's reader (`sft.data.sources._read_table`)
against `pandas.read_csv(path)`, each in a fresh process (peak RSS over the process after
its imports: VmHWM before and after), on a generated CSV of short reviews (~100 MB by
default). Not run by CI:

  python benchmarks/read_memory.py                 # ~100 MB, 3 rounds
  python benchmarks/read_memory.py --mb 20 --rounds 1

`--checkout DIR` reads with another checkout's sft (the figures before a change).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = "good bad pill doctor week great awful side effects headache sleep better día é".split()

CODE = """
import sys, time
sys.path.insert(0, {root!r})
import pandas as pd
from sft.data import sources

def hwm():
    return int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])

before = hwm()
started = time.perf_counter()
if {way!r} == "pandas":
    frame = pd.read_csv({path!r})
else:
    frame = sources._read_table(sources.DataFile(sources.Path({path!r})), "k")
print(len(frame), (hwm() - before) / 1024, time.perf_counter() - started)
"""


def write_csv(path: Path, megabytes: float) -> int:
    """Rows of (id, review text of ~25 words, label) until the file holds `megabytes` MB."""
    rng = random.Random(0)
    rows, size = 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write("id,review,label\n")
        while size < megabytes * 1e6:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 40)))
            line = f'{rows},"{text}, ok",{rng.choice(["positive", "negative", "neutral"])}\n'
            out.write(line)
            size += len(line.encode())
            rows += 1
    return rows


def measure(way: str, path: Path, root: Path) -> tuple[float, float]:
    """(MiB over the process's imports, seconds) of one read in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(root=str(root), way=way, path=str(path))],
        capture_output=True,
        text=True,
        check=True,
    )
    _, mib, seconds = done.stdout.split()
    return float(mib), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", default=str(ROOT), help="the sft checkout to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sft-read-") as tmp:
        path = Path(tmp) / "reviews.csv"
        rows = write_csv(path, args.mb)
        size = path.stat().st_size / 2**20
        runs = {"pandas": [], "sft": []}
        for _ in range(args.rounds):  # alternate: the machine's load hits both alike
            for way in runs:
                runs[way].append(measure(way, path, Path(args.checkout)))
    report = {
        "file_mib": size,
        "rows": rows,
        "checkout": args.checkout,
        **{
            way: {
                "peak_mib": statistics.median(m for m, _ in found),
                "seconds": statistics.median(s for _, s in found),
                "rounds": found,
            }
            for way, found in runs.items()
        },
    }
    report["sft_over_pandas_peak"] = report["sft"]["peak_mib"] / report["pandas"]["peak_mib"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
