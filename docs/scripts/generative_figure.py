"""The figure of docs/generative.md: exact match on the test questions of
experiment=drug_questions, before fine-tuning (SmolLM2-135M-Instruct as shipped), after it
(the run's test metrics, from MLflow), and the floor a constant answer reaches (the most
common train answer).

    OMP_NUM_THREADS=1 sft-train experiment=drug_questions            # the run ("after")
    OMP_NUM_THREADS=1 python docs/scripts/generative_figure.py RUN_ID docs/drug_questions.png

"Before" is sft's own test stage (the experiment's data module, the module sft-train builds,
Lightning's test loop: the same prompts, generation settings and normalized exact match as
the run's) on the unchanged base model, run here. Run it from the folder the run was started
in: the demo's files and the MLflow store are found under ./outputs. Also writes the numbers
as JSON beside the PNG.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # this checkout's sft, also when another one is installed


def zero_shot(overrides: list[str]) -> dict:
    """Test metrics of the untrained base model, majority floor, seconds, sample answers."""
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR
    from sft.tasks.causal_lm.generate import reference
    from sft.tasks.causal_lm.metrics import exact_match
    from sft.training.build import build_module
    from sft.training.run import prepare_data

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=drug_questions", *overrides])
    pl.seed_everything(int(cfg.seed), verbose=False)
    datamodule = prepare_data(cfg)
    module = build_module(cfg, datamodule)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    started = time.perf_counter()
    trainer.test(module, datamodule=datamodule, verbose=False)
    seconds = time.perf_counter() - started
    train = datamodule.examples["train"]
    answers = Counter(reference(r, "train") for r in train.records)
    majority = answers.most_common(1)[0][0]
    references = [ref for _, _, ref in datamodule.held_out["test"]]
    return {
        "summary": {k: float(v) for k, v in module.test_report.get("summary", {}).items()},
        "test_seconds": seconds,
        "majority_answer": majority,
        "majority_exact_match": sum(exact_match(majority, r) for r in references) / len(references),
        "test_rows": len(references),
        "train_rows": len(train),
        "samples": module.generations[:8],
    }


def trained(run_id: str, tracking_uri: str) -> dict:
    """The fine-tuned run's test metrics and times (MLflow)."""
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri).get_run(run_id)
    return {"metrics": dict(run.data.metrics), "params": dict(run.data.params)}


def draw(numbers: dict, out: Path) -> None:
    """Bars of exact match and ROUGE-L: majority answer, before, after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = numbers["before"]["summary"]
    after = numbers["after"]["metrics"]
    rows = numbers["before"]["test_rows"]
    labels = [
        f"constant answer\n('{numbers['before']['majority_answer']}')",
        "SmolLM2-135M-Instruct\nas shipped",
        f"fine-tuned\n({numbers['steps']} steps)",
    ]
    exact = [
        numbers["before"]["majority_exact_match"],
        before.get("test/exact_match", 0.0),
        after.get("test/exact_match", 0.0),
    ]
    rouge = [None, before.get("test/rougeL", 0.0), after.get("test/rougeL", 0.0)]
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    xs = range(len(labels))
    bars = ax.bar([x - 0.18 for x in xs], exact, width=0.36, color="#4c72b0", label="exact match")
    ax.bar([x + 0.18 for x in xs[1:]], rouge[1:], width=0.36, color="#dd8452", label="ROUGE-L")
    for bar, value in zip(bars, exact):
        ax.annotate(
            f"{value:.0%}",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_xticks(list(xs), labels, fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"score on {rows} held-out test reviews")
    minutes = after.get("time/fit_s", 0.0) / 60
    ax.set_title(
        "Which condition was the drug in this review taken for?\n"
        f"(experiment=drug_questions; fit {minutes:.1f} min on one thread of a shared 2-core CPU)",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)


# The run's settings that decide the test questions and how they are answered: "before"
# is composed with the run's values, so both score the same rows the same way.
SAME_AS_RUN = (
    "seed",
    "model.name_or_path",
    "model.init",
    "data.train_rows",
    "data.val_rows",
    "data.test_rows",
    "data.max_chars",
    "data.max_length",
    "data.generation.max_new_tokens",
    "data.generation.num_beams",
    "data.generation.rows",
    "model.max_length",
)


def main(run_id: str, out: str, tracking_uri: str = "sqlite:///outputs/mlflow.db") -> None:
    out = Path(out)
    after = trained(run_id, tracking_uri)
    params = after["params"]
    # MLflow keeps values as text: None was null; sft masks a value whose key looks secret
    # (max_new_tokens: "token") as ***: the experiment's own value stands then.
    values = {k: "null" if v == "None" else v for k, v in params.items() if v != "***"}
    before = zero_shot([f"{key}={values[key]}" for key in SAME_AS_RUN if key in values])
    batches = -(-before["train_rows"] // int(params.get("data.batch_size", 4)))
    epochs = int(params.get("trainer.max_epochs", 1))
    accumulate = int(params.get("trainer.accumulate_grad_batches", 1))
    numbers = {
        "run_id": run_id,
        "before": before,
        "after": after,
        "steps": epochs * -(-batches // accumulate),
    }
    out.with_suffix(".json").write_text(json.dumps(numbers, indent=1, ensure_ascii=False))
    draw(numbers, out)
    print(json.dumps({k: v for k, v in numbers.items() if k != "after"}, indent=1))
    print({k: v for k, v in after["metrics"].items() if k.startswith(("test/", "time/"))})


if __name__ == "__main__":
    main(*sys.argv[1:4])
