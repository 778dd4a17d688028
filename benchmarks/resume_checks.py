"""What the input checks cost, side by side in one process, as ratios:

  model    sft's model-folder fingerprint (sft.training.fingerprints: small files whole,
           weights sampled) vs sha256 of every byte vs loading the model (AutoModel)
  jsonl    sft's JSONL reader (a key twice in one object is refused: object_pairs_hook) vs
           the same reader with the check switched off (plain json.loads per line)
  csv      sft's CSV reader (the raw header is read once more for duplicate names) vs
           the same reader with the check switched off

Each figure is the best of --repeat runs (the machine is shared: the minimum is the least
disturbed). Not run by CI:

  python benchmarks/resume_checks.py                 # a BERT-base-sized folder, 200k rows
  python benchmarks/resume_checks.py --layers 2 --rows 20000     # quick

Writes outputs/bench/resume_checks-<time>.json and prints the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import pandas as pd


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def full_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()


def bench_model(folder: Path, layers: int, repeat: int) -> dict:
    import torch
    from transformers import AutoModel, BertConfig, BertModel

    from sft import cache
    from sft.training.fingerprints import model_fingerprint

    torch.manual_seed(0)
    BertModel(BertConfig(num_hidden_layers=layers)).save_pretrained(folder)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    def sft_fingerprint():
        cache.clear()  # cold: the in-process cache would answer every repeat after the first
        model_fingerprint(str(folder))

    fingerprint_s = best(sft_fingerprint, repeat)
    full_s = best(lambda: full_sha256(folder), repeat)
    load_s = best(lambda: AutoModel.from_pretrained(folder), repeat)
    return {
        "folder_mb": size / 2**20,
        "fingerprint_s": fingerprint_s,
        "full_sha256_s": full_s,
        "load_s": load_s,
        "fingerprint_over_load": fingerprint_s / load_s,
        "full_sha256_over_load": full_s / load_s,
    }


def bench_tables(folder: Path, rows: int, repeat: int) -> dict:
    import sft.data.sources as sources

    frame = pd.DataFrame(
        {
            "text": [f"row {i} good day" for i in range(rows)],
            "label": ["positive", "negative"] * (rows // 2),
        }
    )
    figures = {"rows": rows}
    unchecked = {
        "_header": lambda text, sep: [],
        "_decode_json": lambda text, *args, **kwargs: json.loads(text),
    }
    for kind in ("jsonl", "csv"):
        path = folder / f"t.{kind}"
        if kind == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_csv(path, index=False)
        read = lambda path=path: sources._read_table(sources.DataFile(path), "k")  # noqa: E731
        checked_s = best(read, repeat)
        saved = {name: getattr(sources, name) for name in unchecked}
        try:
            for name, stand_in in unchecked.items():
                setattr(sources, name, stand_in)
            unchecked_s = best(read, repeat)
        finally:
            for name, original in saved.items():
                setattr(sources, name, original)
        figures.update(
            {
                f"{kind}_checked_s": checked_s,
                f"{kind}_unchecked_s": unchecked_s,
                f"{kind}_checked_over_unchecked": checked_s / unchecked_s,
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12, help="BERT layers (12: BERT-base)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = bench_model(Path(tmp) / "model", args.layers, args.repeat)
        tables = bench_tables(Path(tmp), args.rows, args.repeat)
    result = {"args": vars(args), "model": model, "tables": tables}
    out = Path("outputs/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"resume_checks-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1))
    print(
        f"model folder {model['folder_mb']:.0f} MB: fingerprint {model['fingerprint_s']:.3f}s, "
        f"full sha256 {model['full_sha256_s']:.3f}s, load {model['load_s']:.3f}s "
        f"(fingerprint/load {model['fingerprint_over_load']:.3f}, full/load "
        f"{model['full_sha256_over_load']:.3f})"
    )
    print(
        f"{tables['rows']} rows, checked/unchecked: JSONL "
        f"{tables['jsonl_checked_over_unchecked']:.2f}, CSV "
        f"{tables['csv_checked_over_unchecked']:.2f}"
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
