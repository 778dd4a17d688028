"""Epoch time with and without the decoded-media cache (sft.data.media_cache), side by side.

The data and model of experiment=digits_transfer: data=digits (1,797 scikit-learn digits
written as 32x32 PNGs; 10 classes, 1,258 train images after the val/test splits) and the
small ViT shipped in sft/assets/vit_digits (4 layers, hidden 64, random weights). For each
mode, alternating, in one process: `encode` (with the cache: decode every file once into
`<tmp>/media/*.arrow`; without: nothing), then epochs over the train loader, each a full
training epoch (forward, backward, AdamW step; batch 32) and, separately, the loader alone
(decoding + augmentation + processor: the part the cache changes). `--crop-scale 0.8` turns
on random crops (train-only augmentation, after the cache). Not run by CI:

  python benchmarks/media_cache.py --reps 3 --epochs 3
  python benchmarks/media_cache.py --reps 7 --epochs 3 --loader-only [--crop-scale 0.8]

Prints the median seconds per mode and the ratio cached / uncached (below 1: faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from sft import cache  # noqa: E402
from sft.data.media import load_processor  # noqa: E402
from sft.data.media_module import DigitsDataModule  # noqa: E402
from sft.model.backbone import Backbone  # noqa: E402

MODEL = str(ROOT / "sft" / "assets" / "vit_digits")


def one(cached: bool, epochs: int, crop_scale: float, root: Path, fit: bool = True) -> dict:
    cache.clear()
    data = DigitsDataModule(
        "digits",
        root=str(root / "digits"),
        size=32,
        val_fraction=0.1,
        test_fraction=0.2,
        task="multiclass",
        crop_scale=crop_scale,
        batch_size=32,
        seed=0,
    )
    from sft.tasks import family_of  # the sequence family settles auto

    data.load(family_of("auto"))
    processor = load_processor(MODEL, "image")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=root) as cache_dir:
        data.encode(processor, 0, cache_dir if cached else None)
        encode_s = time.perf_counter() - start
        torch.manual_seed(0)
        backbone = Backbone(MODEL, pooling="cls", init="random")
        head = torch.nn.Linear(backbone.hidden_size, 10)
        params = [*backbone.parameters(), *head.parameters()]
        optimizer = torch.optim.AdamW(params, lr=1e-3)
        loader = data.train_dataloader()
        train, load = [], []
        for epoch in range(epochs):
            loader.batch_sampler.set_epoch(epoch)
            start = time.perf_counter()
            for batch in loader if fit else ():
                logits = head(backbone(None, None, pixel_values=batch["pixel_values"]))
                loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            train.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in loader:
                pass
            load.append(time.perf_counter() - start)
    return {"encode": encode_s, "train": train, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--crop-scale", type=float, default=1.0)
    parser.add_argument(
        "--loader-only", action="store_true", help="skip the training epochs (their rows read 0)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one(True, 1, args.crop_scale, root)  # warm-up: writes the PNGs, imports
        for rep in range(args.reps):
            for mode in (True, False) if rep % 2 == 0 else (False, True):
                results[mode].append(
                    one(mode, args.epochs, args.crop_scale, root, fit=not args.loader_only)
                )

    def median(mode, what, epoch=None):
        runs = results[mode]
        return statistics.median(r[what] if epoch is None else r[what][epoch] for r in runs)

    print(
        f"data=digits, vit_digits, {args.reps} reps, crop_scale={args.crop_scale}; "
        f"median seconds (cached / uncached = ratio)"
    )
    rows = [("encode (decode once)", "encode", None)]
    if not args.loader_only:
        rows += [(f"train epoch {e + 1}", "train", e) for e in range(args.epochs)]
    rows += [(f"loader-only epoch {e + 1}", "load", e) for e in range(args.epochs)]
    for label, what, epoch in rows:
        on, off = median(True, what, epoch), median(False, what, epoch)
        ratio = on / off if off else float("nan")
        print(f"  {label:24s} {on:7.3f} / {off:7.3f} = {ratio:5.2f}")


if __name__ == "__main__":
    main()
