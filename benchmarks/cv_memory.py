"""A CV run's memory and model passes per fold, side by side: this checkout against another
(`--baseline`, e.g. /work/main), each in its own process.

One `cv.folds=K` run of a tiny BERT (built from a config, word-level vocab) on N synthetic
short rows (a keyword gives the label away), a few training batches per fold, full validation
folds and test split. After each fold: the Python heap still held (tracemalloc: numpy arrays
and Python objects, not torch tensors), the process RSS, the rows the model saw outside
training per split (Lightning's sanity check left out), and the tokenizations run so far
(sft.cache misses: token ids and the data report's untruncated counts). Not run by CI:

  python benchmarks/cv_memory.py --rows 20000 --folds 3 --baseline /work/main

Prints one JSON object per checkout; a fold's tokens no longer kept show as a flat
`held_mib` from fold to fold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = {"negative": ["awful", "worse"], "neutral": ["okay", "fine"], "positive": ["great", "good"]}
FILLER = ["the", "drug", "it", "was", "and", "my", "doctor", "pill", "day", "week", "felt"]


def write_inputs(folder: Path, rows: int) -> dict[str, Path]:
    """A tiny BERT folder and train/test CSVs of `rows` and rows // 5 synthetic texts."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import save_tiny_bert

    model = save_tiny_bert(folder / "tiny-bert", [w for words in WORDS.values() for w in words])
    rng = random.Random(0)
    paths = {"model": model}
    for split, n in (("train", rows), ("test", rows // 5)):
        texts = []
        for i in range(n):
            label = list(WORDS)[i % 3]
            words = [rng.choice(FILLER) for _ in range(rng.randint(3, 30))]
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS[label]))
            texts.append({"text": " ".join(words), "label": label})
        paths[split] = folder / f"{split}.csv"
        pd.DataFrame(texts).to_csv(paths[split], index=False)
    return paths


def measure(rows: int, folds: int) -> dict:
    """Run the CV and return the per-fold figures (this process's `sft`)."""
    import psutil
    from hydra import compose, initialize_config_dir

    import sft
    from sft import cache
    from sft.cli import CONF_DIR
    from sft.model.module import SFTModule
    from sft.training import cv

    out = Path(tempfile.mkdtemp())
    paths = write_inputs(out, rows)
    seen: Counter = Counter()
    forward = SFTModule.forward

    def counting(self, *args, **kwargs):
        result = forward(self, *args, **kwargs)
        trainer = getattr(self, "_trainer", None)
        if not self.training and not getattr(trainer, "sanity_checking", False):
            seen["test" if trainer is not None and trainer.testing else "val/other"] += len(result)
        return result

    SFTModule.forward = counting
    folds_seen: list[dict] = []
    train = cv.train

    def measured(*args, **kwargs):
        result = train(*args, **kwargs)
        current, peak = tracemalloc.get_traced_memory()
        folds_seen.append(
            {
                "held_mib": round(current / 2**20, 1),
                "traced_peak_mib": round(peak / 2**20, 1),
                "rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1),
                "eval_rows": dict(seen),
                "tokenizations": cache.STATS["tokens.miss"],
                "untruncated_counts": cache.STATS["untruncated.miss"],
            }
        )
        seen.clear()
        return result

    cv.train = measured
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "model=hf",
                f"model.name_or_path={paths['model']}",
                "model.max_length=64",
                "data=text_csv",
                f"data.train_path={paths['train']}",
                f"data.test_path={paths['test']}",
                "trainer.max_epochs=1",
                "+trainer.limit_train_batches=5",
                "trainer.enable_model_summary=false",
                "callbacks.progress_bar.refresh_rate=0",
                f"cv.folds={folds}",
                f"paths.outputs={out}",
                f"paths.run_dir={out}/run",
            ],
        )
    tracemalloc.start()
    cv.train_repeats(cfg)
    return {
        "sft": str(Path(sft.__file__).parent.parent),
        "rows": rows,
        "test_rows": rows // 5,
        "folds": folds_seen,
        "peak_rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout to run the same CV with")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.rows, args.folds)))
        return
    for checkout in [str(ROOT), *([args.baseline] if args.baseline else [])]:
        env = {**os.environ, "PYTHONPATH": checkout, "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, __file__, "--inner", f"--rows={args.rows}"]
        done = subprocess.run(
            [*command, f"--folds={args.folds}"], env=env, capture_output=True, text=True
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print(lines[-1] if lines else done.stderr[-3000:])


if __name__ == "__main__":
    main()
