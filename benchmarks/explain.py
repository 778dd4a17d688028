"""What an explanation costs and whether it is faithful, on the default model (MiniLM
fine-tuned by the default experiment) and the default experiment's test reviews.

  cost            seconds per review of `Predictor.explain` (integrated gradients on the input
                  embeddings, the default 50 steps), all steps in one forward pass (the default
                  internal batch) over every sampled review; and on the first few reviews, the
                  same with the steps split into internal batches of 1 and 10
  faithfulness    ERASER comprehensiveness (sft.inference.explain_checks): the drop of the
                  explained (predicted) label's probability when the top k% of the words by
                  score are deleted, against deleting as many random words (5 random sets per
                  review), for k = 5, 10, 20, 50 % and for the single top word

Not run by CI:

  python benchmarks/explain.py --threads 1        # the latest registered drug-review model
  python benchmarks/explain.py --model <folder | models:/... | runs:/...> --examples 80
  python benchmarks/explain.py --model <folder> --figure docs/explain_comprehensiveness.png

Reviews: a seeded sample of --examples test reviews (all 379 with --examples 0). Writes
outputs/bench/explain-<time>.json (every figure, the command, the machine) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
FRACTIONS = (0.05, 0.1, 0.2, 0.5)
INTERNAL_BATCHES = (1, 10)  # besides the default: all steps in one pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="folder or URI (default: latest registered)")
    parser.add_argument("--examples", type=int, default=80, help="reviews sampled (0: all)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-examples", type=int, default=4, help="reviews timed per batch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="write the comprehensiveness curve here")
    args = parser.parse_args()

    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    import sft
    from predict_throughput import drug_review_test, registered_model
    from sft.inference.explain_checks import comprehensiveness

    texts, gold, _ = drug_review_test()
    rng = np.random.default_rng(args.seed)
    rows = np.arange(len(texts)) if args.examples == 0 else np.sort(
        rng.choice(len(texts), size=min(args.examples, len(texts)), replace=False)
    )  # fmt: skip
    chosen = [texts[i] for i in rows]
    with tempfile.TemporaryDirectory() as work:
        folder = Path(args.model) if args.model and Path(args.model).is_dir() else None
        folder = folder or registered_model(args.model, Path(work))
        predictor = sft.load(folder)
        tokens = [len(predictor.tokenizer(t)["input_ids"]) for t in chosen]
        predictor.explain(chosen[:1], n_steps=4)  # warm-up: first-call allocations
        started = time.perf_counter()
        explanations = predictor.explain(chosen, n_steps=args.steps, progress=True)
        seconds = time.perf_counter() - started
        batched = {}
        for size in INTERNAL_BATCHES:
            subset = chosen[: args.batch_examples]
            begin = time.perf_counter()
            predictor.explain(subset, n_steps=args.steps, internal_batch_size=size)
            batched[size] = (time.perf_counter() - begin) / len(subset)
        begin = time.perf_counter()
        predictor.explain(chosen[: args.batch_examples], n_steps=args.steps)
        batched[args.steps] = (time.perf_counter() - begin) / args.batch_examples
        curve = {
            str(k): summary(comprehensiveness(predictor, explanations, k=k, draws=5, seed=0))
            for k in (1, *FRACTIONS)
        }
    gaps = np.array([e["logit"] - e["baseline_logit"] for e in explanations])
    deltas = np.array([abs(e["delta"]) for e in explanations])
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": str(folder),
        "examples": len(chosen),
        "rows": rows.tolist(),
        "threads": args.threads,
        "steps": args.steps,
        "tokens_mean": float(np.mean(tokens)),
        "tokens_max": int(np.max(tokens)),
        "seconds_per_example": seconds / len(chosen),
        "seconds_per_100_tokens": seconds / sum(tokens) * 100,
        "seconds_per_example_by_internal_batch": {str(k): v for k, v in batched.items()},
        "delta_abs_median": float(np.median(deltas)),
        "delta_abs_max": float(np.max(deltas)),
        "delta_over_gap_median": float(np.median(deltas / np.maximum(np.abs(gaps), 1e-6))),
        "accuracy_of_sample": float(
            np.mean([e["predicted"] == gold[i] for e, i in zip(explanations, rows)])
        ),
        "comprehensiveness": curve,
        "machine": f"{platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.2f}",
        "torch": torch.__version__,
    }
    out = ROOT / "outputs" / "bench" / f"explain-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"-> {out}")
    if args.figure:
        draw(curve, Path(args.figure), result)


def summary(found: dict) -> dict:
    """Mean drops and how often the top words' drop beats the random words'."""
    per_text = np.asarray(found["per_text"])
    return {
        "top": found["top"],
        "random": found["random"],
        "texts": found["texts"],
        "top_beats_random": float(np.mean(per_text[:, 0] > per_text[:, 1])),
    }


def print_table(result: dict) -> None:
    print(
        f"{result['examples']} reviews, {result['tokens_mean']:.0f} tokens on average, "
        f"{result['steps']} steps, {result['threads']} thread(s): "
        f"{result['seconds_per_example']:.2f} s per review "
        f"({result['seconds_per_100_tokens']:.2f} s per 100 tokens)"
    )
    for size, value in result["seconds_per_example_by_internal_batch"].items():
        print(f"  internal_batch_size={size}: {value:.2f} s per review")
    print(f"  |delta| median {result['delta_abs_median']:.2e}, max {result['delta_abs_max']:.2e}")
    print("| words deleted | top-scored: prob. drop | random: prob. drop | top > random |")
    print("|---|---|---|---|")
    for k, row in result["comprehensiveness"].items():
        name = "1 word" if k == "1" else f"{float(k):.0%}"
        print(
            f"| {name} | {row['top']:.3f} | {row['random']:.3f} | "
            f"{row['top_beats_random']:.0%} of {row['texts']} |"
        )


def draw(curve: dict, path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [k for k in curve if k != "1"]
    x = [float(k) * 100 for k in ks]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(x, [curve[k]["top"] for k in ks], "o-", label="top-scored words deleted")
    ax.plot(x, [curve[k]["random"] for k in ks], "s--", label="as many random words deleted")
    ax.set_xlabel("words deleted (% of the review)")
    ax.set_ylabel("drop of the predicted label's probability")
    ax.set_title(f"Comprehensiveness, {result['examples']} test reviews (MiniLM, IG 50 steps)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
