"""After-fit cost with many classes: fit vs test + reports + plots + log_model, one run.

A synthetic CSV of `--classes` classes (300), `--per-class` short texts each (10), a keyword
per class; a tiny BERT (2 layers, hidden 32, word-level vocab, built here like the tests'
`tiny_model_dir`); `sft-train`'s config tree through `sft.train.train_task`, in this process.
The run logs `time/fit_s` and `time/after_fit_s` (test, reports, plots, model folder,
log_model); the reports are timed on their own by wrapping `write_reports`. Not run by CI:

  python benchmarks/many_classes.py                     # 300 classes, 10 texts each, 2 epochs
  python benchmarks/many_classes.py --classes 50 --epochs 1

Writes outputs/bench/many_classes-<classes>-<time>.json and prints the figures, with the
ratio after_fit / fit and the size of every PNG the run wrote.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed
FILLER = ["the", "drug", "it", "was", "and", "my", "doctor", "pill", "day", "week", "felt"]


def write_data(folder: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """`classes` x `per_class` rows: filler words and the class's keyword `kw<i>`."""
    import pandas as pd

    rng = random.Random(seed)
    rows = []
    for c in range(classes):
        for _ in range(per_class):
            words = [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
            words.insert(rng.randrange(len(words) + 1), f"kw{c}")
            rows.append({"text": " ".join(words), "label": f"class {c:03d}"})
    rng.shuffle(rows)
    path = folder / "many.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def tiny_bert(folder: Path, classes: int) -> Path:
    """The tests' tiny BERT (tests/conftest.py::save_tiny_bert), with the class keywords in
    its vocab."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import save_tiny_bert

    return save_tiny_bert(folder, [f"kw{c}" for c in range(classes)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir
    from mlflow import MlflowClient

    import sft.training.run as run_module
    from sft.cli import CONF_DIR
    from sft.train import train_task

    reports_s = []
    write_reports = run_module.write_reports

    def timed_reports(*a, **k):
        started = time.perf_counter()
        try:
            return write_reports(*a, **k)
        finally:
            reports_s.append(time.perf_counter() - started)

    run_module.write_reports = timed_reports
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_data(tmp, args.classes, args.per_class)
        model = tiny_bert(tmp / "tiny-bert", args.classes)
        overrides = [
            "model=hf",
            f"model.name_or_path={model}",
            "model.max_length=32",
            "data=text_csv",
            f"data.train_path={data}",
            "data.test_path=null",
            "data.val_fraction=0.2",
            "data.test_fraction=0.2",
            "optimizer.lr=3e-3",
            "optimizer.weight_decay=0.0",
            f"trainer.max_epochs={args.epochs}",
            "trainer.enable_model_summary=false",
            "callbacks.progress_bar.refresh_rate=0",
            f"paths.outputs={tmp}/out",
            f"paths.run_dir={tmp}/out/run",
        ]
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
        train_task(cfg)
        client = MlflowClient(f"sqlite:///{tmp}/out/mlflow.db")
        run = client.search_runs([client.get_experiment_by_name("text_csv").experiment_id])[0]
        pngs = {}
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # measure the size even of a picture PIL would refuse
        for png in sorted((tmp / "out" / "run").glob("*.png")):
            with Image.open(png) as image:
                pngs[png.name] = {
                    "width": image.width,
                    "height": image.height,
                    "mpx": round(image.width * image.height / 1e6, 2),
                    "bytes": png.stat().st_size,
                }
    m = run.data.metrics
    result = {
        "classes": args.classes,
        "per_class": args.per_class,
        "epochs": args.epochs,
        "fit_s": round(m["time/fit_s"], 2),
        "after_fit_s": round(m["time/after_fit_s"], 2),
        "reports_s": round(sum(reports_s), 2),
        "log_model_s": round(m["time/log_model_s"], 2),
        "after_fit_over_fit": round(m["time/after_fit_s"] / m["time/fit_s"], 3),
        "test_f1_macro": round(m.get("test/f1_macro", float("nan")), 4),
        "pngs": pngs,
    }
    out = ROOT / "outputs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"many_classes-{args.classes}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
